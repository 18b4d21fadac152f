package dev.gatun.pipeline;

import java.util.List;

/**
 * What an executor does next on one rank: run one compute action, or issue one group of sends and receives. A
 * rank's {@link Schedule#steps(int) steps} are its actions with every maximal run of consecutive communication actions
 * folded into one {@link Group}.
 */
public sealed interface Step {
    /** Runs one forward or backward. */
    record Compute(Action action) implements Step {
        public Compute {
            if (!action.isCompute()) {
                throw new IllegalArgumentException(action + " is communication, not compute");
            }
        }
    }

    /**
     * Issues all of {@code ops} as one grouped call (ncclGroupStart, each send/recv, ncclGroupEnd) and continues only
     * when every one of them has completed.
     */
    record Group(List<Action> ops) implements Step {
        public Group {
            ops = List.copyOf(ops);
            if (ops.isEmpty() || ops.stream().anyMatch(Action::isCompute)) {
                throw new IllegalArgumentException("a group holds one or more sends/receives only, got " + ops);
            }
        }
    }
}
