package dev.gatun.train;

import dev.gatun.memory.DType;
import dev.gatun.memory.Shape;
import dev.gatun.pipeline.TensorSpec;

/**
 * What the pipeline stages of a decoder-only language model take and give ({@link Model#stageInput},
 * {@link Model#stageOutput}): stage 0 int32 token ids {@code [B, T]}, the others activations {@code [B, T, C]} (with
 * sequence parallelism this tp rank's token rows {@code [B·T/tp, C]}), the last the vocabulary-parallel logits
 * {@code [B·T, Vp/tp]} that {@link LanguageModelLoss} reads.
 *
 * @param seqLen      T
 * @param channels    C
 * @param paddedVocab Vp at the layout's tp
 */
public record TokenStages(int seqLen, int channels, int paddedVocab) {
    /** Stage {@code stage}'s input for {@code examples} sequences. */
    public TensorSpec input(int stage, int examples, ParallelLayout layout) {
        if (stage == 0) {
            return new TensorSpec(DType.INT32, Shape.of(examples, seqLen));
        }
        return layout.sequenceParallel() // this tp rank's token rows
                ? new TensorSpec(DType.FP32, Shape.of((long) examples * seqLen / layout.tp(), channels))
                : new TensorSpec(DType.FP32, Shape.of(examples, seqLen, channels));
    }

    /** Stage {@code stage}'s output: the next stage's input, or the logits on the last. */
    public TensorSpec output(int stage, int examples, ParallelLayout layout) {
        return stage == layout.stages() - 1
                ? LanguageModelLoss.logits((long) examples * seqLen, paddedVocab, layout.tp())
                : input(stage + 1, examples, layout);
    }
}
