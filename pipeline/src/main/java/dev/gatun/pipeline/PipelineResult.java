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
 * @param measured     this rank's compute actions in execution order with their measured start and end, in
 *                     milliseconds since the rank's run began (the ranks of one step start within a send's latency
 *                     of each other, so the lanes of a {@link Timeline} built from them line up)
 */
public record PipelineResult(int rank, List<Double> losses, Map<Integer, Integer> peakInFlight,
                             List<Timeline.Slot> measured) {
    public PipelineResult {
        losses = List.copyOf(losses);
        peakInFlight = Map.copyOf(peakInFlight);
        measured = List.copyOf(measured);
    }

    /**
     * A timeline of measured durations from every pipeline rank's result of one run ({@code results.get(r)} from rank
     * {@code r}), with the simulated timeline's in-flight figures: what {@link GanttChart#svg} draws.
     */
    public static Timeline measuredTimeline(Timeline simulated, List<PipelineResult> results) {
        if (results.size() != simulated.schedule().ranks()) {
            throw new IllegalArgumentException("one result per pipeline rank expected: " + results.size() + " for "
                    + simulated.schedule().ranks() + " ranks");
        }
        return new Timeline(simulated.schedule(), results.stream().map(PipelineResult::measured).toList(),
                simulated.peakInFlightPerStage(), simulated.peakInFlightPerRank());
    }

    /** The batch loss {@code (1/m) Σ_mb L_mb}, present on the rank holding the last stage. */
    public OptionalDouble meanLoss() {
        return losses.stream().mapToDouble(Double::doubleValue).average();
    }
}
