package dev.gatun.pipeline;

import java.util.List;
import java.util.Objects;

/**
 * When each compute action of a schedule runs, as {@link ScheduleSimulator#simulate} found it, and the figures that
 * follow: time, bubble and activation memory.
 *
 * <p>Time starts at 0 on every rank and ends at the {@link #makespan()}, the latest end of any compute action. A rank
 * is idle whenever it is not computing, including before its first and after its last action.
 *
 * @param schedule             the schedule simulated
 * @param slots                per rank, its compute actions with start and end, in execution order
 * @param peakInFlightPerStage per stage, the most micro-batches whose activations it held at once (forward run,
 *                             backward not yet)
 * @param peakInFlightPerRank  per rank, the most activations (summed over its stages) it held at once; for
 *                             {@code v > 1} each counts one chunk's worth, {@code 1/v} of the rank's layers
 */
public record Timeline(Schedule schedule, List<List<Slot>> slots, List<Integer> peakInFlightPerStage,
                       List<Integer> peakInFlightPerRank) {
    /** One compute action and when it ran. */
    public record Slot(Action action, double start, double end) {
        /** {@code end − start}. */
        public double duration() {
            return end - start;
        }
    }

    public Timeline {
        Objects.requireNonNull(schedule, "schedule must not be null");
        slots = slots.stream().map(List::copyOf).toList();
        peakInFlightPerStage = List.copyOf(peakInFlightPerStage);
        peakInFlightPerRank = List.copyOf(peakInFlightPerRank);
    }

    /** The end of the last compute action on any rank: the time of one training step. */
    public double makespan() {
        return slots.stream().flatMap(List::stream).mapToDouble(Slot::end).max().orElse(0);
    }

    /** Total compute time of rank {@code rank}. */
    public double busyTime(int rank) {
        return slots.get(rank).stream().mapToDouble(Slot::duration).sum();
    }

    /** {@code makespan − busyTime(rank)}. */
    public double idleTime(int rank) {
        return makespan() - busyTime(rank);
    }

    /**
     * The bubble fraction of rank {@code rank}: idle time over total time, {@code idle / makespan}. For the
     * {@link Schedules} builders with uniform forward time {@code t_f} and backward time {@code t_b} per stage it is
     * {@code (p−1)/(m+p−1)} for GPipe and 1F1B and {@code (p−1)/(v·m+p−1)} for interleaved 1F1B, on every rank:
     * always with buffered communication ({@link ScheduleSimulator#simulateBuffered}), and for the lowered schedule
     * under blocking sends when {@code t_f = t_b} (for GPipe and 1F1B also when {@code t_b = 2·t_f}; see
     * {@link SendRecvLowering} for when blocking adds to it). 0 for an empty schedule.
     */
    public double bubbleFraction(int rank) {
        double total = makespan();
        return total == 0 ? 0 : idleTime(rank) / total;
    }

    /**
     * The bubble of rank {@code rank} relative to its ideal (bubble-free) time, {@code idle / busy}: the
     * "bubble time fraction" {@code t_pb / t_id} of the Megatron-LM paper (Narayanan et al., 2021), {@code (p−1)/m}
     * for GPipe and 1F1B and {@code (p−1)/(v·m)} for interleaved 1F1B.
     */
    public double bubbleOverIdeal(int rank) {
        double busy = busyTime(rank);
        return busy == 0 ? 0 : idleTime(rank) / busy;
    }

    /** The most micro-batches stage {@code stage} held activations for at once. */
    public int peakInFlight(int stage) {
        return peakInFlightPerStage.get(stage);
    }

    /** The most stage activations rank {@code rank} held at once, over all its stages. */
    public int peakInFlightOnRank(int rank) {
        return peakInFlightPerRank.get(rank);
    }
}
