package dev.gatun.train;

/**
 * What one training step measured, as the rank holding the last stage (dp 0, tp 0) reports it.
 *
 * @param step         the step, from 0
 * @param loss         the global batch's mean loss
 * @param learningRate the rate this step's update used
 * @param gradNorm     the global gradient norm before clipping (NaN when the step was skipped)
 * @param applied      false when a non-finite gradient skipped the update
 * @param lossScale    the loss scale used (1 without loss scaling)
 * @param tokens       tokens processed in the step (global batch)
 * @param seconds      wall time of the step on the reporting rank
 */
public record StepMetrics(long step, double loss, double learningRate, float gradNorm, boolean applied,
                          float lossScale, long tokens, double seconds) {
    /** Tokens per second of the step. */
    public double tokensPerSecond() {
        return tokens / seconds;
    }
}
