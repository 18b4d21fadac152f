package dev.gatun.gpt.model;

/**
 * The shape of a GPT-2-style model: {@code layers} pre-LayerNorm transformer blocks of {@code heads} attention heads
 * over {@code channels} (C) wide residual streams, a context of {@code seqLen} (T) tokens and a vocabulary of
 * {@code vocab} (V) ids; the output head either shares the token embedding ({@code tiedHead}, as GPT-2) or has its own.
 */
public record GptConfig(int layers, int heads, int channels, int seqLen, int vocab, boolean tiedHead) {
    /** Megatron pads the vocabulary to a multiple of this times tp. */
    public static final int VOCAB_PADDING = 128;

    public GptConfig {
        if (layers < 1 || heads < 1 || channels < 1 || seqLen < 1 || vocab < 2) {
            throw new IllegalArgumentException("layers, heads, channels and seqLen must be >= 1 and vocab >= 2, got "
                    + "layers=" + layers + " heads=" + heads + " channels=" + channels + " seqLen=" + seqLen
                    + " vocab=" + vocab);
        }
        if (channels % heads != 0) {
            throw new IllegalArgumentException("heads=" + heads + " must divide channels=" + channels);
        }
    }

    /** A model that trains in seconds on 2 CPU cores: 2 layers, 4 heads, 64 wide, 64 tokens of context. */
    public static GptConfig tiny(int vocab) {
        return new GptConfig(2, 4, 64, 64, vocab, true);
    }

    /** GPT-2 small (124M): 12 layers, 12 heads, 768 wide, 1024 context, 50257 ids, tied head. */
    public static GptConfig gpt2Small() {
        return new GptConfig(12, 12, 768, 1024, 50257, true);
    }

    /** The vocabulary rounded up to a multiple of {@code 128·tp}, so that tp ranks own equal ranges of it. */
    public int paddedVocab(int tp) {
        int m = VOCAB_PADDING * tp;
        return (vocab + m - 1) / m * m;
    }

    /**
     * The parameters N of the unpadded model: {@code V·C + T·C} (embeddings), {@code 12C² + 13C} per block (QKV,
     * projection, MLP and two LayerNorms with biases), {@code 2C} (final LayerNorm), plus {@code V·C} untied.
     */
    public long parameterCount() {
        long c = channels;
        long n = (long) vocab * c + (long) seqLen * c + layers * (12 * c * c + 13 * c) + 2 * c;
        return tiedHead ? n : n + (long) vocab * c;
    }

    /**
     * Training FLOPs per token, as PaLM's appendix counts them: {@code 6N} for the weights' forward and backward GEMMs
     * plus {@code 12·L·C·T} for attention's {@code q·kᵀ} and {@code att·v} (mask not discounted).
     */
    public double flopsPerToken() {
        return 6.0 * parameterCount() + 12.0 * layers * channels * (double) seqLen;
    }

    /** Checks that {@code tp} can split this model: it must divide the heads (and so the channels). */
    public void requireTensorParallel(int tp) {
        if (tp < 1 || heads % tp != 0) {
            throw new IllegalArgumentException("tp=" + tp + " must divide the " + heads + " attention heads");
        }
    }
}
