package dev.gatun.llama;

import dev.gatun.memory.Shape;
import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.train.checkpoint.SafetensorsFile;
import dev.gatun.train.checkpoint.SafetensorsWriter;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * The model as one safetensors file with Hugging Face Llama tensor names ({@code LlamaForCausalLM}):
 * {@code model.embed_tokens.weight [V, C]}, per layer {@code model.layers.<i>.input_layernorm.weight},
 * {@code self_attn.{q,k,v,o}_proj.weight}, {@code post_attention_layernorm.weight},
 * {@code mlp.{gate,up,down}_proj.weight}, then {@code model.norm.weight}, and {@code lm_head.weight [V, C]} when
 * untied. Gatun stacks q, k and v ({@code qkv_proj}) and gate and up ({@code gate_up_proj}) in one weight each, which
 * the file splits; the vocabulary is unpadded.
 *
 * <p>The rotary embedding: Gatun turns the pairs {@code (2i, 2i+1)} of a head, as Meta's reference code does;
 * Hugging Face's {@code rotate_half} turns {@code (i, i + hs/2)}, so its checkpoints hold {@code q_proj} and
 * {@code k_proj} with each head's rows permuted (the {@code permute} of its conversion script): Hugging Face row
 * {@code j·hs/2 + i} of a head is Gatun row {@code 2i + j}. Export applies it, import undoes it, so a model loaded
 * from a Hugging Face checkpoint computes the same attention scores.
 */
public final class HuggingFaceLlama {
    private HuggingFaceLlama() {
    }

    /** Writes {@code weights} (Gatun names, padded vocabulary) as a Hugging Face Llama safetensors file. */
    public static void export(LlamaConfig config, ModelWeights weights, Path file) {
        var w = new SafetensorsWriter().metadata("format", "pt").metadata("gatun.config", config.toString());
        int c = config.channels();
        int hs = config.headSize();
        int q = config.heads() * hs;
        int kv = config.kvHeads() * hs;
        w.addFloats("model.embed_tokens.weight", new long[] {config.vocab(), c},
                Arrays.copyOf(get(weights, LlamaEmbedding.WEIGHT), config.vocab() * c));
        for (int i = 0; i < config.layers(); i++) {
            String g = "layers." + i + ".";
            String h = "model.layers." + i + ".";
            w.addFloats(h + "input_layernorm.weight", new long[] {c}, get(weights, g + "input_layernorm.weight"));
            float[] qkv = get(weights, g + "self_attn.qkv_proj.weight");
            w.addFloats(h + "self_attn.q_proj.weight", new long[] {q, c},
                    toHuggingFace(rows(qkv, 0, q, c), config.heads(), hs, c));
            w.addFloats(h + "self_attn.k_proj.weight", new long[] {kv, c},
                    toHuggingFace(rows(qkv, q, kv, c), config.kvHeads(), hs, c));
            w.addFloats(h + "self_attn.v_proj.weight", new long[] {kv, c}, rows(qkv, q + kv, kv, c));
            w.addFloats(h + "self_attn.o_proj.weight", new long[] {c, q}, get(weights, g + "self_attn.o_proj.weight"));
            w.addFloats(h + "post_attention_layernorm.weight", new long[] {c},
                    get(weights, g + "post_attention_layernorm.weight"));
            float[] gateUp = get(weights, g + "mlp.gate_up_proj.weight");
            int f = config.hidden();
            w.addFloats(h + "mlp.gate_proj.weight", new long[] {f, c}, rows(gateUp, 0, f, c));
            w.addFloats(h + "mlp.up_proj.weight", new long[] {f, c}, rows(gateUp, f, f, c));
            w.addFloats(h + "mlp.down_proj.weight", new long[] {c, f}, get(weights, g + "mlp.down_proj.weight"));
        }
        w.addFloats("model.norm.weight", new long[] {c}, get(weights, "norm.weight"));
        if (!config.tiedHead()) {
            w.addFloats("lm_head.weight", new long[] {config.vocab(), c},
                    Arrays.copyOf(get(weights, LlamaHead.UNTIED), config.vocab() * c));
        }
        w.write(file);
    }

    /**
     * Reads a Hugging Face Llama safetensors file (F32, BF16 or F16 tensors) into Gatun names and layout (unpadded
     * vocabulary): the initial weights of a run.
     *
     * @throws IllegalArgumentException naming the file and tensor when one is missing or has the wrong shape
     */
    public static ModelWeights read(LlamaConfig config, Path file) {
        SafetensorsFile st = SafetensorsFile.open(file);
        ModelWeights weights = new ModelWeights();
        int c = config.channels();
        int hs = config.headSize();
        int q = config.heads() * hs;
        int kv = config.kvHeads() * hs;
        int f = config.hidden();
        weights.put(LlamaEmbedding.WEIGHT, Shape.of(config.vocab(), c),
                tensor(st, file, "model.embed_tokens.weight", config.vocab(), c));
        for (int i = 0; i < config.layers(); i++) {
            String g = "layers." + i + ".";
            String h = "model.layers." + i + ".";
            weights.put(g + "input_layernorm.weight", Shape.of(c), tensor(st, file, h + "input_layernorm.weight", c));
            float[] qkv = new float[(q + 2 * kv) * c];
            System.arraycopy(fromHuggingFace(tensor(st, file, h + "self_attn.q_proj.weight", q, c), config.heads(),
                    hs, c), 0, qkv, 0, q * c);
            System.arraycopy(fromHuggingFace(tensor(st, file, h + "self_attn.k_proj.weight", kv, c),
                    config.kvHeads(), hs, c), 0, qkv, q * c, kv * c);
            System.arraycopy(tensor(st, file, h + "self_attn.v_proj.weight", kv, c), 0, qkv, (q + kv) * c, kv * c);
            weights.put(g + "self_attn.qkv_proj.weight", Shape.of(q + 2L * kv, c), qkv);
            weights.put(g + "self_attn.o_proj.weight", Shape.of(c, q), tensor(st, file, h + "self_attn.o_proj.weight",
                    c, q));
            weights.put(g + "post_attention_layernorm.weight", Shape.of(c),
                    tensor(st, file, h + "post_attention_layernorm.weight", c));
            float[] gateUp = new float[2 * f * c];
            System.arraycopy(tensor(st, file, h + "mlp.gate_proj.weight", f, c), 0, gateUp, 0, f * c);
            System.arraycopy(tensor(st, file, h + "mlp.up_proj.weight", f, c), 0, gateUp, f * c, f * c);
            weights.put(g + "mlp.gate_up_proj.weight", Shape.of(2L * f, c), gateUp);
            weights.put(g + "mlp.down_proj.weight", Shape.of(c, f), tensor(st, file, h + "mlp.down_proj.weight", c, f));
        }
        weights.put("norm.weight", Shape.of(c), tensor(st, file, "model.norm.weight", c));
        if (!config.tiedHead()) {
            weights.put(LlamaHead.UNTIED, Shape.of(config.vocab(), c), tensor(st, file, "lm_head.weight",
                    config.vocab(), c));
        }
        return weights;
    }

    /**
     * Meta's layout of {@code heads} heads of {@code hs} rows (each {@code width} long) to Hugging Face's: row
     * {@code 2i + j} of a head goes to row {@code j·hs/2 + i}.
     */
    static float[] toHuggingFace(float[] w, int heads, int hs, int width) {
        return permute(w, heads, hs, width, true);
    }

    /** The inverse of {@link #toHuggingFace}. */
    static float[] fromHuggingFace(float[] w, int heads, int hs, int width) {
        return permute(w, heads, hs, width, false);
    }

    private static float[] permute(float[] w, int heads, int hs, int width, boolean toHuggingFace) {
        float[] out = new float[w.length];
        int half = hs / 2;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                for (int j = 0; j < 2; j++) {
                    int meta = h * hs + 2 * i + j;
                    int hf = h * hs + j * half + i;
                    int from = toHuggingFace ? meta : hf;
                    int to = toHuggingFace ? hf : meta;
                    System.arraycopy(w, from * width, out, to * width, width);
                }
            }
        }
        return out;
    }

    private static float[] rows(float[] w, int first, int count, int width) {
        return Arrays.copyOfRange(w, first * width, (first + count) * width);
    }

    private static float[] get(ModelWeights weights, String name) {
        ModelWeights.Full f = weights.get(name);
        if (f == null) {
            throw new IllegalArgumentException("cannot export: the weights have no parameter '" + name + "'");
        }
        return f.values();
    }

    private static float[] tensor(SafetensorsFile st, Path file, String name, long... shape) {
        if (!st.entries().containsKey(name)) {
            throw new IllegalArgumentException(file + " has no tensor '" + name + "'");
        }
        long[] got = st.entry(name).shape();
        if (!Arrays.equals(got, shape)) {
            throw new IllegalArgumentException(file + ": tensor '" + name + "' is " + Arrays.toString(got)
                    + " but the model needs " + Arrays.toString(shape));
        }
        return st.readFloats(name);
    }
}
