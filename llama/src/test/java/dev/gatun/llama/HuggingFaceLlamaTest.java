package dev.gatun.llama;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.ops.RotaryFrequencies;
import dev.gatun.train.DataSource;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.train.checkpoint.SafetensorsFile;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Hugging Face Llama export and import: a round trip across layouts gives the same file, the stacked weights split
 * into Hugging Face's, and the q/k permutation is the one under which Hugging Face's {@code rotate_half} attention
 * scores equal Gatun's interleaved ones.
 */
class HuggingFaceLlamaTest {
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(21, 300), new ByteTokenizer());

    private static LlamaConfig config(boolean tied) {
        return new LlamaConfig(4, 4, 2, 32, 96, 16, 256, tied, 500_000,
                new RotaryFrequencies.Llama3Scaling(8, 1, 4, 8), 1e-5f);
    }

    private static ModelWeights train(LlamaConfig config, ParallelLayout layout, ModelWeights start, int steps) {
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(3e-3, 3e-4, 1, 3), 1f, 0f, 4,
                8).withInitialWeights(start);
        DataSource data = GptModel.tokens(DATA, 4, 8, config.seqLen());
        return new Training(new LlamaModel(config), layout, options, CommOptions.DEFAULT)
                .run(data, steps, m -> { }, true).weights();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void exportImportRoundTripsAcrossLayouts(boolean tied, @TempDir Path dir) {
        LlamaConfig config = config(tied);
        var a = new ParallelLayout(2, 2, 2, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 2, 1);
        ModelWeights trained = train(config, a, null, 2);
        Path first = dir.resolve("a.safetensors");
        HuggingFaceLlama.export(config, trained, first);
        var b = new ParallelLayout(1, 1, 4, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 4, 1);
        ModelWeights imported = train(config, b, HuggingFaceLlama.read(config, first), 0);
        Path second = dir.resolve("b.safetensors");
        HuggingFaceLlama.export(config, imported, second);
        SafetensorsFile f1 = SafetensorsFile.open(first);
        SafetensorsFile f2 = SafetensorsFile.open(second);
        assertEquals(f1.entries().keySet(), f2.entries().keySet());
        assertEquals(4 * 9 + 2 + (tied ? 0 : 1), f1.entries().size(), "embedding, 9 per layer, norm, untied head");
        for (String name : f1.entries().keySet()) {
            assertArrayEquals(f1.readFloats(name), f2.readFloats(name), name);
        }
        assertArrayEquals(new long[] {16, 32}, f1.entry("model.layers.1.self_attn.k_proj.weight").shape());
        assertArrayEquals(new long[] {96, 32}, f1.entry("model.layers.1.mlp.up_proj.weight").shape());
        float[] gateUp = trained.get("layers.1.mlp.gate_up_proj.weight").values(); // [192, 32]: gate, then up
        assertEquals(gateUp[(96 + 5) * 32 + 7], f1.readFloats("model.layers.1.mlp.up_proj.weight")[5 * 32 + 7]);
        float[] qkv = trained.get("layers.1.self_attn.qkv_proj.weight").values(); // q rows 0..31, k 32..47, v 48..63
        assertEquals(qkv[(48 + 3) * 32 + 2], f1.readFloats("model.layers.1.self_attn.v_proj.weight")[3 * 32 + 2]);
        // k head 0's Gatun row 2i + j is Hugging Face row j·hs/2 + i (hs = 8): row 5 (i = 2, j = 1) is row 4 + 2 = 6
        assertEquals(qkv[(32 + 5) * 32 + 1], f1.readFloats("model.layers.1.self_attn.k_proj.weight")[6 * 32 + 1]);
    }

    /**
     * Hugging Face's attention on the exported q and k projections — {@code rotate_half}, pairs {@code (i, i+hs/2)}
     * — gives the scores Gatun's interleaved rotation gives on its own (float64, one head, several positions).
     */
    @Test
    void thePermutationMakesHuggingFacesRotaryScoresGatuns() {
        int hs = 8;
        int c = 12;
        int t = 5;
        Random random = new Random(3);
        double[] omega = new RotaryFrequencies(hs, 10_000, null).omegas();
        float[] wq = new float[hs * c];
        float[] wk = new float[hs * c];
        for (int i = 0; i < wq.length; i++) {
            wq[i] = (float) random.nextGaussian();
            wk[i] = (float) random.nextGaussian();
        }
        float[] wqHf = HuggingFaceLlama.toHuggingFace(wq, 1, hs, c);
        float[] wkHf = HuggingFaceLlama.toHuggingFace(wk, 1, hs, c);
        assertArrayEquals(wq, HuggingFaceLlama.fromHuggingFace(wqHf, 1, hs, c), "the inverse undoes it");
        double[][] x = new double[t][c];
        for (double[] row : x) {
            for (int i = 0; i < c; i++) {
                row[i] = random.nextGaussian();
            }
        }
        for (int a = 0; a < t; a++) {
            for (int b = 0; b <= a; b++) {
                double gatun = dot(interleaved(project(wq, x[a], hs), a, omega), interleaved(project(wk, x[b], hs), b,
                        omega));
                double hf = dot(rotateHalf(project(wqHf, x[a], hs), a, omega), rotateHalf(project(wkHf, x[b], hs), b,
                        omega));
                assertEquals(gatun, hf, 1e-9 * Math.max(1, Math.abs(gatun)), "score " + a + ", " + b);
            }
        }
    }

    @Test
    void aFileThatDoesNotFitTheModelFailsNamingTheTensor(@TempDir Path dir) {
        LlamaConfig config = config(true);
        ModelWeights weights = train(config, ParallelLayout.single(), null, 0);
        Path file = dir.resolve("m.safetensors");
        HuggingFaceLlama.export(config, weights, file);
        var wider = new LlamaConfig(4, 4, 2, 64, 96, 16, 256, true, 500_000, null, 1e-5f);
        var e = assertThrows(IllegalArgumentException.class, () -> HuggingFaceLlama.read(wider, file));
        assertEquals(file + ": tensor 'model.embed_tokens.weight' is [256, 32] but the model needs [256, 64]",
                e.getMessage());
        var untied = config(false);
        e = assertThrows(IllegalArgumentException.class, () -> HuggingFaceLlama.read(untied, file));
        assertEquals(file + " has no tensor 'lm_head.weight'", e.getMessage());
    }

    private static double[] project(float[] w, double[] x, int rows) {
        double[] y = new double[rows];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < x.length; i++) {
                y[r] += w[r * x.length + i] * x[i];
            }
        }
        return y;
    }

    private static double[] interleaved(double[] v, int position, double[] omega) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length / 2; i++) {
            double cos = Math.cos(position * omega[i]);
            double sin = Math.sin(position * omega[i]);
            out[2 * i] = v[2 * i] * cos - v[2 * i + 1] * sin;
            out[2 * i + 1] = v[2 * i] * sin + v[2 * i + 1] * cos;
        }
        return out;
    }

    /** Hugging Face's {@code q·cos + rotate_half(q)·sin} with {@code cos, sin} repeated over both halves. */
    private static double[] rotateHalf(double[] v, int position, double[] omega) {
        int half = v.length / 2;
        double[] out = new double[v.length];
        for (int i = 0; i < half; i++) {
            double cos = Math.cos(position * omega[i]);
            double sin = Math.sin(position * omega[i]);
            out[i] = v[i] * cos - v[i + half] * sin;
            out[i + half] = v[i + half] * cos + v[i] * sin;
        }
        return out;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
