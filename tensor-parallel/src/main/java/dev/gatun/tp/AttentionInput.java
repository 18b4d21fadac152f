package dev.gatun.tp;

import dev.gatun.memory.Tensor;

/**
 * The batch {@code B} and sequence length {@code T} of an attention layer's input: {@code [B, T, C]}, or with
 * sequence parallelism this rank's {@code N/tp} token rows {@code [N/tp, C]} of {@code N = B·T} whole sequences.
 */
record AttentionInput(long batch, long seqLen) {
    /**
     * @param sequenceParallelSeqLen T under sequence parallelism, else 0
     * @throws IllegalArgumentException when {@code x} is not such an input
     */
    static AttentionInput of(Tensor x, int channels, int sequenceParallelSeqLen, int tp) {
        if (sequenceParallelSeqLen > 0) {
            long rows = x.numel() / channels * tp;
            if (x.shape().dim(x.shape().rank() - 1) != channels || rows % sequenceParallelSeqLen != 0) {
                throw new IllegalArgumentException("sequence-parallel attention input must be [N/tp, " + channels
                        + "] rows of whole sequences of " + sequenceParallelSeqLen + " tokens, got '" + x.name()
                        + "' " + x.shape() + " at tp=" + tp);
            }
            return new AttentionInput(rows / sequenceParallelSeqLen, sequenceParallelSeqLen);
        }
        if (x.shape().rank() != 3 || x.shape().dim(2) != channels) {
            throw new IllegalArgumentException("attention input must be [B, T, " + channels + "], got '" + x.name()
                    + "' " + x.shape());
        }
        return new AttentionInput(x.shape().dim(0), x.shape().dim(1));
    }
}
