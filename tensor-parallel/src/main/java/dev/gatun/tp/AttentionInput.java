package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;

/**
 * The batch {@code B} and sequence length {@code T} of an attention layer's input (and the selective recomputation of
 * its probabilities): {@code [B, T, C]}, or with
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

    /**
     * The attention probabilities of {@code q3 [B, T, (NH + 2·NKV)·hs]} again, by the forward's own kernel (its output
     * goes unused): a new {@code [B, NH, T, T]}, for selective recomputation.
     */
    Tensor probabilities(Backend backend, TensorAllocator allocator, Tensor q3, int heads, int kvHeads,
                         int headSize) {
        var stream = backend.stream();
        Tensor att = Tensor.allocate(allocator, DType.FP32, Shape.of(batch, heads, seqLen, seqLen),
                MemoryCategory.ACTIVATIONS, "attention.att", stream);
        try (Tensor out = Tensor.allocate(allocator, DType.FP32, Shape.of(batch, seqLen, (long) heads * headSize),
                MemoryCategory.ACTIVATIONS, "attention.out.recomputed", stream)) {
            backend.attention(q3, heads, kvHeads, out, att);
            return att;
        } catch (RuntimeException | Error e) {
            att.close();
            throw e;
        }
    }
}
