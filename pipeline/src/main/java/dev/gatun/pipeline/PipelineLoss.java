package dev.gatun.pipeline;

import dev.gatun.memory.Tensor;

import java.util.Objects;

/**
 * The loss of a micro-batch from the last stage's output (the targets are the implementation's to hold). The loss of
 * the whole batch is the mean over the {@code m} micro-batches, {@code L = (1/m) Σ_mb L_mb}, so the executor asks for
 * each micro-batch's output gradient scaled by {@code 1/m}: {@code ∂L/∂y_mb = (1/m) · ∂L_mb/∂y_mb}.
 */
@FunctionalInterface
public interface PipelineLoss {
    /**
     * The loss of micro-batch {@code microBatch} and its gradient with respect to {@code output}.
     *
     * @param output    the last stage's output for the micro-batch; valid only during the call
     * @param gradScale the factor to apply to the gradient ({@code 1/m}), not to the loss value
     */
    Result evaluate(int microBatch, Tensor output, double gradScale);

    /**
     * @param loss       {@code L_mb}, unscaled
     * @param outputGrad {@code gradScale · ∂L_mb/∂output}, of the output's dtype and shape; owned by the caller
     */
    record Result(double loss, Tensor outputGrad) {
        public Result {
            Objects.requireNonNull(outputGrad, "outputGrad must not be null");
        }
    }
}
