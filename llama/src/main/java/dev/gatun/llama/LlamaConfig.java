package dev.gatun.llama;

import dev.gatun.ops.RotaryFrequencies;

/**
 * The shape of a Llama-style model: {@code layers} pre-RMSNorm blocks over a {@code channels} (C) wide residual
 * stream, each with grouped-query attention ({@code heads} query heads of size {@code C/heads}, {@code kvHeads}
 * key/value heads) under rotary position embeddings (base {@code ropeTheta}, optionally Llama 3's frequency scaling)
 * and a SwiGLU MLP of width {@code hidden} (F); sequences of {@code seqLen} (T) tokens over a vocabulary of
 * {@code vocab} ids; no biases; the output head shares the token embedding when {@code tiedHead}.
 */
public record LlamaConfig(int layers, int heads, int kvHeads, int channels, int hidden, int seqLen, int vocab,
                          boolean tiedHead, double ropeTheta, RotaryFrequencies.Llama3Scaling ropeScaling,
                          float normEps) {
    /** Megatron pads the vocabulary to a multiple of this times tp. */
    public static final int VOCAB_PADDING = 128;

    public LlamaConfig {
        if (layers < 1 || heads < 1 || kvHeads < 1 || channels < 1 || hidden < 1 || seqLen < 1 || vocab < 2) {
            throw new IllegalArgumentException("layers, heads, kvHeads, channels, hidden and seqLen must be >= 1 and "
                    + "vocab >= 2, got layers=" + layers + " heads=" + heads + " kvHeads=" + kvHeads + " channels="
                    + channels + " hidden=" + hidden + " seqLen=" + seqLen + " vocab=" + vocab);
        }
        if (channels % heads != 0 || (channels / heads) % 2 != 0) {
            throw new IllegalArgumentException("heads=" + heads + " must divide channels=" + channels
                    + " into heads of an even size (the rotary embedding turns pairs)");
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("kvHeads=" + kvHeads + " must divide heads=" + heads);
        }
        if (!(normEps > 0)) {
            throw new IllegalArgumentException("normEps must be > 0, got " + normEps);
        }
        new RotaryFrequencies(channels / heads, ropeTheta, ropeScaling); // validates the rotary settings
    }

    /** A model that trains in seconds on 2 CPU cores: 2 layers, 4 query and 2 key/value heads, 64 wide, F 160. */
    public static LlamaConfig tiny(int vocab) {
        return new LlamaConfig(2, 4, 2, 64, 160, 64, vocab, true, 10_000, null, 1e-5f);
    }

    /**
     * Llama 3.2 1B's published shape (Hugging Face {@code meta-llama/Llama-3.2-1B}): 16 layers, 32 query and 8
     * key/value heads, C 2048, F 8192, 128 256 ids, tied head, rope_theta 500 000 with the llama3 scaling (factor 32,
     * low 1, high 4, original context 8192), RMSNorm eps 10⁻⁵; trained here on sequences of {@code seqLen}.
     */
    public static LlamaConfig llama32_1b(int seqLen) {
        return new LlamaConfig(16, 32, 8, 2048, 8192, seqLen, 128_256, true, 500_000,
                new RotaryFrequencies.Llama3Scaling(32, 1, 4, 8192), 1e-5f);
    }

    /**
     * Llama 3.1 8B's published shape ({@code meta-llama/Llama-3.1-8B}): 32 layers, 32 query and 8 key/value heads,
     * C 4096, F 14 336, 128 256 ids, untied head, rope_theta 500 000 with the llama3 scaling (factor 8, low 1, high 4,
     * original context 8192), RMSNorm eps 10⁻⁵.
     */
    public static LlamaConfig llama31_8b(int seqLen) {
        return new LlamaConfig(32, 32, 8, 4096, 14_336, seqLen, 128_256, false, 500_000,
                new RotaryFrequencies.Llama3Scaling(8, 1, 4, 8192), 1e-5f);
    }

    /** The head size {@code hs = C/heads}. */
    public int headSize() {
        return channels / heads;
    }

    /** The rotary embedding's frequencies. */
    public RotaryFrequencies rotary() {
        return new RotaryFrequencies(headSize(), ropeTheta, ropeScaling);
    }

    /** The vocabulary rounded up to a multiple of {@code 128·tp}, so that tp ranks own equal ranges of it. */
    public int paddedVocab(int tp) {
        int m = VOCAB_PADDING * tp;
        return (vocab + m - 1) / m * m;
    }

    /**
     * The parameters N of the unpadded model: {@code V·C} (embedding), per block {@code 2·C·heads·hs} (q and o),
     * {@code 2·C·kvHeads·hs} (k and v), {@code 3·C·F} (gate, up, down) and {@code 2C} (the two RMSNorm gains),
     * {@code C} (the final norm), and {@code V·C} more for an untied head. Llama 3.2 1B: 1 235 814 400; Llama 3.1 8B:
     * 8 030 261 248.
     */
    public long parameterCount() {
        long c = channels;
        long q = (long) heads * headSize();
        long kv = (long) kvHeads * headSize();
        long block = 2 * c * q + 2 * c * kv + 3 * c * hidden + 2 * c;
        long n = (long) vocab * c + layers * block + c;
        return tiedHead ? n : n + (long) vocab * c;
    }

    /**
     * Training FLOPs per token, as PaLM's appendix counts them: {@code 6N} for the weights' GEMMs plus
     * {@code 12·L·(heads·hs)·T} for attention's {@code q·kᵀ} and {@code att·v}.
     */
    public double flopsPerToken() {
        return 6.0 * parameterCount() + 12.0 * layers * heads * headSize() * (double) seqLen;
    }
}
