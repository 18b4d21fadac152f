package dev.gatun.pipeline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A pipeline schedule as data: for each of {@code p = ranks} ranks, the ordered list of actions it performs for one
 * training step of {@code m = microBatches} micro-batches through {@code p·v} stages ({@code v = stagesPerRank}
 * model chunks per rank).
 *
 * <p><b>Placement.</b> Stage {@code s} lives on rank {@code s mod p} as that rank's model chunk {@code s / p}: rank
 * {@code r} holds stages {@code r, r + p, r + 2p, …} (Megatron's interleaved placement; for {@code v = 1} stage
 * {@code s} is on rank {@code s}).
 *
 * <p><b>Steps.</b> A rank's actions are executed in order; every maximal run of consecutive send/receive actions is
 * one grouped call ({@link #steps(int)}), see {@link SendRecvLowering} for the communication semantics. A schedule
 * from {@link Schedules} holds compute actions only; {@link SendRecvLowering#lower} adds the communication and
 * {@link ScheduleSimulator#validate} proves the result runs.
 *
 * <p>{@link #toString()} prints the steps as a table, one column per rank and one row per step (the shape of
 * PyTorch's {@code _format_pipeline_order}); a group prints as its actions joined by {@code +}.
 *
 * @param name          a label for printing, e.g. {@code "1F1B"}
 * @param ranks         {@code p}, the pipeline-parallel size, {@code ≥ 1}
 * @param microBatches  {@code m}, micro-batches per step, {@code ≥ 1}
 * @param stagesPerRank {@code v}, model chunks per rank, {@code ≥ 1}
 * @param actions       per rank, in rank order, that rank's actions in execution order
 */
public record Schedule(String name, int ranks, int microBatches, int stagesPerRank, List<List<Action>> actions) {
    public Schedule {
        Objects.requireNonNull(name, "name must not be null");
        if (ranks < 1 || microBatches < 1 || stagesPerRank < 1) {
            throw new IllegalArgumentException("a schedule needs p >= 1 ranks, m >= 1 micro-batches and v >= 1 stages"
                    + " per rank, got p=" + ranks + ", m=" + microBatches + ", v=" + stagesPerRank);
        }
        if (actions.size() != ranks) {
            throw new IllegalArgumentException("expected one action list per rank (" + ranks + "), got "
                    + actions.size());
        }
        actions = actions.stream().map(List::copyOf).toList();
    }

    /**
     * A schedule written by hand, one program per rank: that rank's actions in their printed form separated by
     * spaces, e.g. {@code "0F0 0SEND_F0 0RECV_B0 0B0"}.
     */
    public static Schedule parse(String name, int ranks, int microBatches, int stagesPerRank, String... programs) {
        List<List<Action>> actions = Arrays.stream(programs)
                .map(program -> program.isBlank() ? List.<Action>of()
                        : Arrays.stream(program.strip().split("\\s+")).map(Action::parse).toList())
                .toList();
        return new Schedule(name, ranks, microBatches, stagesPerRank, actions);
    }

    /** {@code p·v}, the number of pipeline stages. */
    public int stages() {
        return ranks * stagesPerRank;
    }

    /** The rank stage {@code stage} lives on: {@code stage mod p}. */
    public int rankOf(int stage) {
        if (stage < 0 || stage >= stages()) {
            throw new IllegalArgumentException("stage " + stage + " out of range: the schedule has " + stages()
                    + " stages (p=" + ranks + " × v=" + stagesPerRank + ")");
        }
        return stage % ranks;
    }

    /** Which of its rank's model chunks stage {@code stage} is: {@code stage / p}, in {@code [0, v)}. */
    public int chunkOf(int stage) {
        rankOf(stage);
        return stage / ranks;
    }

    /** Rank {@code rank}'s actions in execution order. */
    public List<Action> actions(int rank) {
        Objects.checkIndex(rank, ranks);
        return actions.get(rank);
    }

    /**
     * Rank {@code rank}'s actions as an executor runs them: each compute action is a {@link Step.Compute}, each maximal
     * run of consecutive sends/receives one {@link Step.Group}.
     */
    public List<Step> steps(int rank) {
        List<Step> steps = new ArrayList<>();
        List<Action> group = new ArrayList<>();
        for (Action a : actions(rank)) {
            if (a.isCompute()) {
                if (!group.isEmpty()) {
                    steps.add(new Step.Group(group));
                    group.clear();
                }
                steps.add(new Step.Compute(a));
            } else {
                group.add(a);
            }
        }
        if (!group.isEmpty()) {
            steps.add(new Step.Group(group));
        }
        return List.copyOf(steps);
    }

    /** Whether any rank has a send or receive (false for a schedule straight from a builder). */
    public boolean hasCommunication() {
        return actions.stream().flatMap(List::stream).anyMatch(a -> !a.isCompute());
    }

    /** A one-line summary: name, p, m, v. */
    public String summary() {
        return name + " p=" + ranks + " m=" + microBatches + " v=" + stagesPerRank;
    }

    /** The step table, one column per rank and one row per step. */
    @Override
    public String toString() {
        return ScheduleTable.format(this, Map.of());
    }
}
