package dev.gatun.gpt.checkpoint;

import dev.gatun.gpt.model.GptConfig;
import dev.gatun.memory.Shape;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.train.checkpoint.SafetensorsWriter;
import dev.gatun.train.checkpoint.SafetensorsFile;

/**
 * The model as one safetensors file with Hugging Face GPT-2 tensor names ({@code GPT2LMHeadModel}'s
 * {@code transformer.*} without the prefix): {@code wte.weight [V, C]}, {@code wpe.weight [T, C]},
 * {@code h.<i>.ln_1.*}, {@code h.<i>.attn.c_attn.{weight [C, 3C], bias}}, {@code h.<i>.attn.c_proj.{weight [C, C],
 * bias}}, {@code h.<i>.ln_2.*}, {@code h.<i>.mlp.c_fc.{weight [C, 4C], bias}}, {@code h.<i>.mlp.c_proj.{weight
 * [4C, C], bias}}, {@code ln_f.*}, and {@code lm_head.weight [V, C]} when untied. GPT-2's {@code Conv1D} weights are
 * stored {@code [in, out]}, the transpose of Gatun's {@code [out, in]}; the vocabulary is unpadded; {@code c_attn}'s
 * columns are q, k, v of all heads, as Gatun's full qkv rows.
 */
public final class HuggingFaceGpt2 {
    private HuggingFaceGpt2() {
    }

    /** Gatun name → Hugging Face name and whether the matrix is transposed. */
    private record Name(String hf, boolean transposed) {
    }

    private static Map<String, Name> names(GptConfig config) {
        Map<String, Name> m = new LinkedHashMap<>();
        m.put("wte.weight", new Name("wte.weight", false));
        m.put("wpe.weight", new Name("wpe.weight", false));
        for (int i = 0; i < config.layers(); i++) {
            String g = "h" + i + ".";
            String h = "h." + i + ".";
            for (String ln : new String[]{"ln_1", "ln_2"}) {
                m.put(g + ln + ".weight", new Name(h + ln + ".weight", false));
                m.put(g + ln + ".bias", new Name(h + ln + ".bias", false));
            }
            m.put(g + "attn.qkv.weight", new Name(h + "attn.c_attn.weight", true));
            m.put(g + "attn.qkv.bias", new Name(h + "attn.c_attn.bias", false));
            m.put(g + "attn.proj.weight", new Name(h + "attn.c_proj.weight", true));
            m.put(g + "attn.proj.bias", new Name(h + "attn.c_proj.bias", false));
            m.put(g + "mlp.fc.weight", new Name(h + "mlp.c_fc.weight", true));
            m.put(g + "mlp.fc.bias", new Name(h + "mlp.c_fc.bias", false));
            m.put(g + "mlp.proj.weight", new Name(h + "mlp.c_proj.weight", true));
            m.put(g + "mlp.proj.bias", new Name(h + "mlp.c_proj.bias", false));
        }
        m.put("ln_f.weight", new Name("ln_f.weight", false));
        m.put("ln_f.bias", new Name("ln_f.bias", false));
        if (!config.tiedHead()) {
            m.put("lm_head.weight", new Name("lm_head.weight", false));
        }
        return m;
    }

    /** Writes {@code weights} (Gatun names, padded vocabulary) as a Hugging Face GPT-2 safetensors file. */
    public static void export(GptConfig config, ModelWeights weights, Path file) {
        var w = new SafetensorsWriter().metadata("format", "pt").metadata("gatun.config", config.toString());
        names(config).forEach((gatun, hf) -> {
            ModelWeights.Full f = weights.get(gatun);
            if (f == null) {
                throw new IllegalArgumentException("cannot export: the weights have no parameter '" + gatun + "'");
            }
            long[] shape = f.shape().dims();
            float[] v = f.values();
            if (gatun.equals("wte.weight") || gatun.equals("lm_head.weight")) {
                shape = new long[]{config.vocab(), shape[1]};
                v = java.util.Arrays.copyOf(v, Math.toIntExact(shape[0] * shape[1]));
            }
            if (hf.transposed()) {
                v = transpose(v, (int) shape[0], (int) shape[1]);
                shape = new long[]{shape[1], shape[0]};
            }
            w.addFloats(hf.hf(), shape, v);
        });
        w.write(file);
    }

    /**
     * Reads a Hugging Face GPT-2 safetensors file into Gatun names (F32, BF16 or F16 tensors; unpadded vocabulary).
     *
     * @throws IllegalArgumentException naming the file and tensor when one is missing or has the wrong shape
     */
    public static ModelWeights read(GptConfig config, Path file) {
        SafetensorsFile st = SafetensorsFile.open(file);
        ModelWeights weights = new ModelWeights();
        long c = config.channels();
        names(config).forEach((gatun, hf) -> {
            long[] expected = expectedShape(config, gatun, c);
            long[] stored = hf.transposed() ? new long[]{expected[1], expected[0]} : expected;
            if (!st.entries().containsKey(hf.hf())) {
                throw new IllegalArgumentException(file + " has no tensor '" + hf.hf() + "' (needed for " + gatun + ")");
            }
            long[] got = st.entry(hf.hf()).shape();
            if (!java.util.Arrays.equals(got, stored)) {
                throw new IllegalArgumentException(file + ": tensor '" + hf.hf() + "' is "
                        + java.util.Arrays.toString(got) + " but the model needs " + java.util.Arrays.toString(stored));
            }
            float[] v = st.readFloats(hf.hf());
            if (hf.transposed()) {
                v = transpose(v, (int) stored[0], (int) stored[1]);
            }
            weights.put(gatun, Shape.of(expected), v);
        });
        return weights;
    }

    private static long[] expectedShape(GptConfig config, String name, long c) {
        if (name.equals("wte.weight") || name.equals("lm_head.weight")) {
            return new long[]{config.vocab(), c};
        }
        if (name.equals("wpe.weight")) {
            return new long[]{config.seqLen(), c};
        }
        if (name.endsWith("attn.qkv.weight")) {
            return new long[]{3 * c, c};
        }
        if (name.endsWith("attn.qkv.bias")) {
            return new long[]{3 * c};
        }
        if (name.endsWith("attn.proj.weight")) {
            return new long[]{c, c};
        }
        if (name.endsWith("mlp.fc.weight")) {
            return new long[]{4 * c, c};
        }
        if (name.endsWith("mlp.fc.bias")) {
            return new long[]{4 * c};
        }
        if (name.endsWith("mlp.proj.weight")) {
            return new long[]{c, 4 * c};
        }
        return new long[]{c};
    }

    private static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < cols; k++) {
                t[k * rows + r] = a[r * cols + k];
            }
        }
        return t;
    }
}
