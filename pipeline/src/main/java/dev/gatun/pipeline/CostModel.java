package dev.gatun.pipeline;

import java.util.Map;
import java.util.Objects;

/**
 * How long each compute action takes, in any time unit, for {@link ScheduleSimulator#simulate}. Communication is
 * taken to cost nothing: its effect on the timeline is only the waiting the rendezvous imposes.
 */
@FunctionalInterface
public interface CostModel {
    /** The duration of a forward or backward action, finite and {@code ≥ 0}. */
    double duration(Action computeAction);

    /** Every forward takes {@code forward}, every backward {@code backward} (e.g. 1 and 2 for "B costs 2× F"). */
    static CostModel uniform(double forward, double backward) {
        if (!(forward >= 0 && backward >= 0 && Double.isFinite(forward) && Double.isFinite(backward))) {
            throw new IllegalArgumentException("durations must be finite and >= 0, got forward=" + forward
                    + ", backward=" + backward);
        }
        return a -> a.type() == ActionType.FORWARD ? forward : backward;
    }

    /**
     * Measured durations, one per compute action of the schedule (e.g. from CUDA events around each action).
     *
     * @throws IllegalArgumentException when asked for an action with no measurement
     */
    static CostModel measured(Map<Action, Double> durations) {
        Map<Action, Double> copy = Map.copyOf(durations);
        return a -> {
            Double d = copy.get(a);
            if (d == null) {
                throw new IllegalArgumentException("no measured duration for " + a + " (have " + copy.size()
                        + " measurements)");
            }
            return Objects.requireNonNull(d);
        };
    }
}
