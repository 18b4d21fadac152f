package dev.gatun.pipeline;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The lowering pass that adds point-to-point communication to a compute-only schedule so that it runs with blocking
 * sends and receives, without deadlock and, where possible, without waiting longer than the data dependencies force.
 *
 * <h2>Communication semantics assumed</h2>
 * <ul>
 *   <li>A send and a receive are a rendezvous: a send completes only once the peer has posted the matching receive,
 *       and a receive only once the peer has posted the matching send (NCCL {@code ncclSend}/{@code ncclRecv}
 *       without buffering). Sends and receives match by identity: {@code sSEND_F mb} with {@code (s+1)RECV_F mb},
 *       {@code sSEND_B mb} with {@code (s−1)RECV_B mb}.</li>
 *   <li>A <b>group</b> — every maximal run of consecutive send/receive actions in a rank's list, a
 *       {@link Step.Group} — is issued as one grouped call (ncclGroupStart, its sends and receives in any order,
 *       ncclGroupEnd): all its operations are posted at once and the rank continues when every one has completed.
 *       Received tensors may be used, and sent ones reused, only after that.</li>
 *   <li>Between two ranks, sends and receives pair up in the order they are issued (NCCL has no tags), so a receiver
 *       must post its receives from a rank in the order that rank posts the sends. A projection of one global order
 *       (below) has that property by construction.</li>
 *   <li>Compute waits for nothing but the previous step of its own rank; its inputs must already be local.</li>
 * </ul>
 * Without groups, neighbours that each send before they receive wait on each other forever (the 1F1B criss-cross:
 * rank r sends a forward output to r+1 and wants a gradient back, while r+1 sends that gradient and wants the next
 * forward input). Interleaved schedules add a ring (rank p−1 feeds rank 0), so even "send after each compute,
 * receive before each compute, grouped" can deadlock around it.
 *
 * <h2>What the pass emits: a projection of one global order</h2>
 * The pass times the compute-only schedule with unlimited buffering ({@link ScheduleSimulator#simulateBuffered}: each
 * compute starts when its rank is free and its producer has finished, durations from the cost model). Each cross-rank
 * tensor becomes one message event, at the earliest instant from its producer's end to its consumer's start at which
 * neither of the two ranks is computing (or at the producer's end if there is no such instant). Sorting all events by
 * time (a message before a compute that starts at the same instant) gives one global sequence; each rank's lowered
 * list is that sequence restricted to the rank: a message adds {@code SEND_*} to the sender's list and the matching
 * {@code RECV_*} to the receiver's, both at the same place in the global order. Executing the global sequence event by
 * event is a valid run under the semantics above — both sides of every rendezvous have done everything before it —
 * so <b>the lowered schedule cannot deadlock</b>, for any compute order that runs buffered; grouping adjacent
 * operations only loosens it. Messages that fall between the same two computes of a rank form one group (in 1F1B's
 * steady state a rank's forward-output send and gradient receive, as Megatron's {@code send_forward_recv_backward}).
 *
 * <p>Where every message found a common idle instant, the rendezvous adds no waiting: simulated with the same
 * durations, the lowered schedule has exactly the buffered timeline. That always holds when forward and backward take
 * the same time; with unequal times some compute orders leave a message no such instant (interleaved 1F1B with
 * backward = 2 × forward and p = 2, 5 or 8, for example), and there the blocking rendezvous costs some extra bubble.
 *
 * <p>{@link ScheduleSimulator#validate} re-checks a lowered schedule independently of this construction.
 */
public final class SendRecvLowering {
    private SendRecvLowering() {
    }

    /** {@link #lower(Schedule, CostModel)} with unit forward and backward durations. */
    public static Schedule lower(Schedule schedule) {
        return lower(schedule, CostModel.uniform(1, 1));
    }

    /**
     * The schedule with sends and receives placed as described above, the global order taken from {@code costs}.
     *
     * @throws IllegalArgumentException   if {@code schedule} already has communication, or {@code costs} gives a
     *                                    duration that is not finite and {@code > 0}
     * @throws InvalidScheduleException   if the compute order cannot run even with unlimited buffering (see
     *                                    {@link ScheduleSimulator#simulateBuffered}), with the failing steps marked
     */
    public static Schedule lower(Schedule schedule, CostModel costs) {
        if (schedule.hasCommunication()) {
            throw new IllegalArgumentException("schedule already has send/recv actions; lower a compute-only schedule:\n"
                    + schedule);
        }
        List<Event> events = events(schedule, costs);
        events.sort(Comparator.comparingDouble(Event::time).thenComparingInt(Event::order));
        List<List<Action>> lowered = new ArrayList<>(schedule.ranks());
        for (int r = 0; r < schedule.ranks(); r++) {
            lowered.add(new ArrayList<>());
        }
        for (Event e : events) {
            lowered.get(schedule.rankOf(e.action().stage())).add(e.action());
            if (!e.action().isCompute()) {
                Action recv = e.action().counterpart();
                lowered.get(schedule.rankOf(recv.stage())).add(recv);
            }
        }
        return new Schedule(schedule.name(), schedule.ranks(), schedule.microBatches(), schedule.stagesPerRank(),
                lowered);
    }

    /**
     * A compute action at its start time ({@code order} 1), or a send at the time its message is exchanged
     * ({@code order} 0, so that it precedes a compute starting at the same time); the receive is the send's
     * counterpart.
     */
    private record Event(double time, int order, Action action) {
    }

    /**
     * The compute events of the buffered run ({@link ScheduleSimulator#simulateBuffered}), then one send event per
     * cross-rank tensor, at the earliest time from its producer's end to its consumer's start at which neither rank
     * is computing (so the rendezvous costs no waiting), or at its producer's end if there is none.
     */
    private static List<Event> events(Schedule schedule, CostModel costs) {
        Timeline timeline = ScheduleSimulator.simulateBuffered(schedule, costs);
        Map<Action, Double> start = new HashMap<>();
        List<Event> events = new ArrayList<>();
        for (List<Timeline.Slot> rank : timeline.slots()) {
            for (Timeline.Slot slot : rank) {
                if (!(slot.duration() > 0)) {
                    throw new IllegalArgumentException("lowering needs durations > 0, the cost model gave "
                            + slot.duration() + " for " + slot.action());
                }
                start.put(slot.action(), slot.start());
                events.add(new Event(slot.start(), 1, slot.action()));
            }
        }
        int last = schedule.stages() - 1;
        for (List<Timeline.Slot> rank : timeline.slots()) {
            for (Timeline.Slot slot : rank) {
                Action a = slot.action();
                boolean forward = a.type() == ActionType.FORWARD;
                if (!forward && !a.type().makesInputGradient()) {
                    continue; // a weight gradient stays on its stage
                }
                int to = forward ? a.stage() + 1 : a.stage() - 1;
                if (to < 0 || to > last || schedule.rankOf(to) == schedule.rankOf(a.stage())) {
                    continue;
                }
                List<Timeline.Slot> sender = timeline.slots().get(schedule.rankOf(a.stage()));
                List<Timeline.Slot> receiver = timeline.slots().get(schedule.rankOf(to));
                Double needed = start.get(forward ? Action.forward(to, a.microBatch())
                        : Action.backward(to, a.microBatch()));
                if (needed == null) {
                    needed = start.get(Action.backwardInput(to, a.microBatch()));
                }
                events.add(new Event(earliestCommonIdle(sender, receiver, slot.end(), needed), 0,
                        new Action(a.stage(), forward ? ActionType.SEND_F : ActionType.SEND_B, a.microBatch())));
            }
        }
        return events;
    }

    /**
     * The earliest time in {@code [lo, hi]} at which neither rank is inside a compute, or {@code lo} if there is none.
     * Such a time is {@code lo} or the end of a compute of either rank.
     */
    private static double earliestCommonIdle(List<Timeline.Slot> a, List<Timeline.Slot> b, double lo, double hi) {
        List<Double> candidates = new ArrayList<>();
        candidates.add(lo);
        for (List<Timeline.Slot> rank : List.of(a, b)) {
            for (int i = firstEndingAfter(rank, lo); i < rank.size() && rank.get(i).end() <= hi; i++) {
                candidates.add(rank.get(i).end());
            }
        }
        candidates.sort(null);
        for (double t : candidates) {
            if (idle(a, t) && idle(b, t)) {
                return t;
            }
        }
        return lo;
    }

    /** Whether no slot has {@code start < t < end}. */
    private static boolean idle(List<Timeline.Slot> rank, double t) {
        int i = firstEndingAfter(rank, t);
        return i == rank.size() || rank.get(i).start() >= t;
    }

    /** The index of the first slot with {@code end > t} (slots are in time order), or the size if none. */
    private static int firstEndingAfter(List<Timeline.Slot> rank, double t) {
        int lo = 0;
        int hi = rank.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (rank.get(mid).end() > t) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    }
}
