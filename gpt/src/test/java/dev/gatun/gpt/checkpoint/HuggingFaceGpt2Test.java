package dev.gatun.gpt.checkpoint;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.TrainOptions;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.train.checkpoint.SafetensorsFile;
import dev.gatun.gpt.train.GptTraining;

@Timeout(120)
class HuggingFaceGpt2Test {
    private static final GptConfig CONFIG = new GptConfig(4, 4, 32, 16, 256, true);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(9, 300), new ByteTokenizer());

    private static ModelWeights train(ParallelLayout layout, ModelWeights start, GptConfig config, int steps) {
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(3e-3, 3e-4, 1, 3), 1f, 0f, 4,
                8).withInitialWeights(start);
        return new GptTraining(config, layout, options, CommOptions.DEFAULT)
                .run(DATA, steps, m -> { }, true).weights();
    }

    /**
     * Weights trained in one layout, exported with Hugging Face names, imported into another layout (tp = 4, so a
     * different vocabulary padding) and exported again: the same file contents, and c_attn is qkv transposed.
     */
    @Test
    void exportImportRoundTripsAcrossLayouts(@TempDir Path dir) {
        var a = new ParallelLayout(2, 2, 2, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 2, 1);
        ModelWeights trained = train(a, null, CONFIG, 2);
        Path first = dir.resolve("a.safetensors");
        HuggingFaceGpt2.export(CONFIG, trained, first);

        var b = new ParallelLayout(1, 4, 1, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 1, 1);
        ModelWeights imported = train(b, HuggingFaceGpt2.read(CONFIG, first), CONFIG, 0);
        Path second = dir.resolve("b.safetensors");
        HuggingFaceGpt2.export(CONFIG, imported, second);

        SafetensorsFile f1 = SafetensorsFile.open(first);
        SafetensorsFile f2 = SafetensorsFile.open(second);
        assertEquals(f1.entries().keySet(), f2.entries().keySet());
        assertEquals(4 * 12 + 4, f1.entries().size(), "wte, wpe, 12 per block, ln_f");
        for (String name : f1.entries().keySet()) {
            assertArrayEquals(f1.readFloats(name), f2.readFloats(name), name);
        }
        assertArrayEquals(new long[]{32, 96}, f1.entry("h.1.attn.c_attn.weight").shape());
        assertArrayEquals(new long[]{256, 32}, f1.entry("wte.weight").shape());
        float[] qkv = trained.get("h1.attn.qkv.weight").values(); // [96, 32]
        float[] cAttn = f1.readFloats("h.1.attn.c_attn.weight"); // [32, 96]
        assertEquals(qkv[5 * 32 + 7], cAttn[7 * 96 + 5]);
        assertTrue(qkv[5 * 32 + 7] != 0);
    }

    @Test
    void aFileThatDoesNotFitTheModelFailsNamingTheTensor(@TempDir Path dir) {
        ModelWeights trained = train(ParallelLayout.single(), null, CONFIG, 0);
        Path file = dir.resolve("m.safetensors");
        HuggingFaceGpt2.export(CONFIG, trained, file);
        var wider = new GptConfig(4, 4, 64, 16, 256, true);
        var e = assertThrows(IllegalArgumentException.class, () -> HuggingFaceGpt2.read(wider, file));
        assertEquals(file + ": tensor 'wte.weight' is [256, 32] but the model needs [256, 64]", e.getMessage());
        var deeper = new GptConfig(5, 4, 32, 16, 256, true);
        e = assertThrows(IllegalArgumentException.class, () -> HuggingFaceGpt2.read(deeper, file));
        assertEquals(file + " has no tensor 'h.4.ln_1.weight' (needed for h4.ln_1.weight)", e.getMessage());
    }
}
