package dev.gatun.pipeline;

import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;

/**
 * What one rank's run of a {@link PipelineExecutor} measured.
 *
 * @param rank         the pipeline rank
 * @param losses       the loss of each micro-batch, in micro-batch order, on the rank holding the last stage; empty
 *                     elsewhere
 * @param peakInFlight per local stage, the most micro-batches whose activations it held at once (forward run,
 *                     backward not yet): to compare with {@link Timeline#peakInFlight(int)}
 */
public record PipelineResult(int rank, List<Double> losses, Map<Integer, Integer> peakInFlight) {
    public PipelineResult {
        losses = List.copyOf(losses);
        peakInFlight = Map.copyOf(peakInFlight);
    }

    /** The batch loss {@code (1/m) Σ_mb L_mb}, present on the rank holding the last stage. */
    public OptionalDouble meanLoss() {
        return losses.stream().mapToDouble(Double::doubleValue).average();
    }
}
