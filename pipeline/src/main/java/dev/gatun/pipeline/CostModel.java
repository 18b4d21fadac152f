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

    /**
     * Every forward takes {@code forward}, every backward {@code backward} (e.g. 1 and 2 for "B costs 2× F"); the two
     * halves of a split backward take {@code backward / 2} each.
     */
    static CostModel uniform(double forward, double backward) {
        return uniform(forward, backward / 2, backward / 2);
    }

    /**
     * Every forward takes {@code forward}, every input-gradient half {@code input} and every weight-gradient half
     * {@code weight}; a whole backward {@code input + weight} (the zero-bubble paper's {@code T_F}, {@code T_B},
     * {@code T_W}).
     */
    static CostModel uniform(double forward, double input, double weight) {
        if (!(forward >= 0 && input >= 0 && weight >= 0 && Double.isFinite(forward) && Double.isFinite(input)
                && Double.isFinite(weight))) {
            throw new IllegalArgumentException("durations must be finite and >= 0, got forward=" + forward
                    + ", input=" + input + ", weight=" + weight);
        }
        return a -> switch (a.type()) {
            case FORWARD -> forward;
            case BACKWARD_INPUT -> input;
            case BACKWARD_WEIGHT -> weight;
            default -> input + weight;
        };
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
