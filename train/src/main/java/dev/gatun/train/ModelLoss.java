package dev.gatun.train;

import dev.gatun.memory.Tensor;

/**
 * The loss a {@link Model} computes on its last pipeline stage, with its gradient: for a micro-batch's output
 * {@code y} and targets, the mean loss {@code L} over the micro-batch's examples (or tokens) and
 * {@code ∂(gradScale·L)/∂y}, where {@code gradScale} folds in the engine's {@code 1/m} for {@code m} micro-batches
 * and the loss scale of fp16 training.
 */
public interface ModelLoss {
    /**
     * What {@link #evaluate} gives.
     *
     * @param loss       the mean loss of the micro-batch (as a float64; with tensor parallelism, the whole loss on
     *                   every tp rank)
     * @param outputGrad {@code ∂(gradScale·L)/∂y}, a new tensor shaped like the output, which the engine closes
     */
    record Result(double loss, Tensor outputGrad) {
    }

    /**
     * The loss of {@code output} (the last stage's output of one micro-batch) against {@code targets} (the
     * micro-batch's targets, on the device), and its gradient scaled by {@code gradScale}.
     */
    Result evaluate(Tensor output, Tensor targets, double gradScale);
}
