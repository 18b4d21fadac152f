package dev.gatun.pipeline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;

/**
 * Runs a schedule on paper: every rank steps through its {@link Schedule#steps(int) steps} under the communication
 * semantics of {@link SendRecvLowering} (rendezvous sends and receives, each group completing when all of its
 * operations have), checking as it goes, and times it with a {@link CostModel}.
 *
 * <p>Checked, with an {@link InvalidScheduleException} at the first violation:
 * <ul>
 *   <li>every action is on the rank of its stage, within {@code p·v} stages and {@code m} micro-batches;</li>
 *   <li>every send has exactly one matching receive on the peer's rank and vice versa, between stages on different
 *       ranks, and sends only what its rank has already computed;</li>
 *   <li>between any two ranks, the receiver posts its receives in the order the sender posts the sends (NCCL pairs
 *       point-to-point operations between two ranks in issue order; there are no tags);</li>
 *   <li>a forward of stage {@code s > 0} has its input: stage {@code s−1}'s forward of that micro-batch ran earlier on
 *       the same rank, or its {@code RECV_F} completed earlier; a backward ({@code B}, or the input half {@code I} of a
 *       split one) has its forward's activation and its output gradient (stage {@code s+1}'s {@code B} or {@code I}
 *       earlier on the same rank, or a completed {@code RECV_B}; the last stage needs only its own forward); a
 *       {@code W} follows the {@code I} of its micro-batch on the same rank, and a micro-batch is backward either
 *       by one {@code B} or by one {@code I} and one {@code W}, never both;</li>
 *   <li>each forward stores its micro-batch's activation once and the {@code B} (or {@code W}) frees it exactly
 *       once; every {@code (stage, micro-batch)} is run forward and backward;</li>
 *   <li>no deadlock: while a rank has steps left, some rank can progress.</li>
 * </ul>
 * Whether a schedule deadlocks does not depend on the durations (matching is by identity and each rank is
 * sequential), so one run both validates and times.
 *
 * <p>{@link #simulateBuffered} is the analytical model instead: a compute-only schedule whose tensors move instantly
 * and asynchronously (unlimited buffering), so a compute starts as soon as its rank is free and its producer has
 * finished. It is what the textbook bubble figures describe and what {@link SendRecvLowering} places messages by.
 */
public final class ScheduleSimulator {
    private ScheduleSimulator() {
    }

    /**
     * Checks that {@code schedule} runs (see above) and returns its timeline with unit forward and backward times.
     *
     * @throws InvalidScheduleException with the reason and the step table, the failing step marked
     */
    public static Timeline validate(Schedule schedule) {
        return simulate(schedule, CostModel.uniform(1, 1));
    }

    /**
     * Validates {@code schedule} and times each compute action with {@code costs}; a rank starts an action as soon
     * as its previous step is done, and a group is done when its last operation is matched.
     *
     * @throws InvalidScheduleException with the reason and the step table, the failing step marked
     */
    public static Timeline simulate(Schedule schedule, CostModel costs) {
        return new Run(schedule, costs, false).run();
    }

    /**
     * Times a compute-only schedule with unlimited buffering: a forward of stage {@code s} starts once its rank is
     * free and stage {@code s−1}'s forward of the micro-batch has ended, wherever that ran (likewise a backward and
     * stage {@code s+1}'s backward). The same checks as {@link #simulate} apply to activations and placement; a rank
     * waiting for a producer that can never run first is reported as stuck.
     *
     * @throws IllegalArgumentException  if the schedule has sends or receives
     * @throws InvalidScheduleException  with the reason and the step table, the failing step marked
     */
    public static Timeline simulateBuffered(Schedule schedule, CostModel costs) {
        if (schedule.hasCommunication()) {
            throw new IllegalArgumentException("simulateBuffered takes a compute-only schedule; this one has"
                    + " sends/receives:\n" + schedule);
        }
        return new Run(schedule, costs, true).run();
    }

    private record Location(int rank, int step) {
    }

    /** The state of one simulation. Arrays indexed {@code [stage][microBatch]} hold step indices, −1 for "not yet". */
    private static final class Run {
        private final Schedule schedule;
        private final CostModel costs;
        private final boolean buffered;
        private final int p;
        private final int stages;
        private final int m;
        private final List<List<Step>> steps = new ArrayList<>();
        private final Map<Action, Location> commAt = new HashMap<>();
        private final Map<Action, Double> postedAt = new HashMap<>();
        private final Map<Action, Double> matchedAt = new HashMap<>();
        private final int[][] forwardStep;
        /** The step of the B or I that made the input gradient. */
        private final int[][] backwardStep;
        /** The step of the I of a split backward. */
        private final int[][] inputStep;
        /** The step of the B or W that freed the activation. */
        private final int[][] freedStep;
        private final double[][] forwardEnd;
        private final double[][] backwardEnd;
        private final boolean[][] inputArrived;
        private final boolean[][] gradArrived;
        private final int[] pc;
        private final double[] clock;
        private final boolean[] posted;
        private final int[] liveOnStage;
        private final int[] peakOnStage;
        private final int[] liveOnRank;
        private final int[] peakOnRank;
        private final List<List<Timeline.Slot>> slots = new ArrayList<>();

        Run(Schedule schedule, CostModel costs, boolean buffered) {
            this.schedule = schedule;
            this.costs = costs;
            this.buffered = buffered;
            this.p = schedule.ranks();
            this.stages = schedule.stages();
            this.m = schedule.microBatches();
            forwardStep = filled(stages, m);
            backwardStep = filled(stages, m);
            inputStep = filled(stages, m);
            freedStep = filled(stages, m);
            forwardEnd = new double[stages][m];
            backwardEnd = new double[stages][m];
            inputArrived = new boolean[stages][m];
            gradArrived = new boolean[stages][m];
            pc = new int[p];
            clock = new double[p];
            posted = new boolean[p];
            liveOnStage = new int[stages];
            peakOnStage = new int[stages];
            liveOnRank = new int[p];
            peakOnRank = new int[p];
            for (int r = 0; r < p; r++) {
                steps.add(schedule.steps(r));
                slots.add(new ArrayList<>());
            }
        }

        Timeline run() {
            checkPlacementAndPairs();
            boolean progress = true;
            while (progress) {
                progress = false;
                for (int r = 0; r < p; r++) {
                    while (pc[r] < steps.get(r).size() && advance(r)) {
                        progress = true;
                    }
                }
            }
            for (int r = 0; r < p; r++) {
                if (pc[r] < steps.get(r).size()) {
                    throw buffered ? stuck() : deadlock();
                }
            }
            checkEveryMicroBatchDone();
            return new Timeline(schedule, slots, Arrays.stream(peakOnStage).boxed().toList(),
                    Arrays.stream(peakOnRank).boxed().toList());
        }

        /**
         * Runs rank {@code r}'s current step if it can; false when the rank is blocked in a group or (buffered) waits
         * for a producer on another rank.
         */
        private boolean advance(int r) {
            int k = pc[r];
            switch (steps.get(r).get(k)) {
                case Step.Compute c -> {
                    if (!compute(r, k, c.action())) {
                        return false;
                    }
                    pc[r]++;
                    return true;
                }
                case Step.Group g -> {
                    if (!posted[r]) {
                        post(r, k, g);
                    }
                    double done = clock[r];
                    for (Action op : g.ops()) {
                        Double t = matchedAt.get(op);
                        if (t == null) {
                            Double peer = postedAt.get(op.counterpart());
                            if (peer == null) {
                                return false;
                            }
                            t = Math.max(peer, postedAt.get(op));
                            matchedAt.put(op, t);
                            matchedAt.put(op.counterpart(), t);
                        }
                        done = Math.max(done, t);
                    }
                    for (Action op : g.ops()) {
                        if (op.type() == ActionType.RECV_F) {
                            inputArrived[op.stage()][op.microBatch()] = true;
                        } else if (op.type() == ActionType.RECV_B) {
                            gradArrived[op.stage()][op.microBatch()] = true;
                        }
                    }
                    clock[r] = done;
                    posted[r] = false;
                    pc[r]++;
                    return true;
                }
            }
        }

        private void post(int r, int k, Step.Group g) {
            for (Action op : g.ops()) {
                int s = op.stage();
                int mb = op.microBatch();
                if (op.type() == ActionType.SEND_F && forwardStep[s][mb] < 0) {
                    throw fail(r, k, op + " sends the output of " + Action.forward(s, mb) + ", which has not run yet"
                            + " on rank " + r);
                }
                if (op.type() == ActionType.SEND_B && backwardStep[s][mb] < 0) {
                    throw fail(r, k, op + " sends the input gradient of " + Action.backward(s, mb) + " (or "
                            + Action.backwardInput(s, mb) + "), which has not run yet on rank " + r);
                }
                postedAt.put(op, clock[r]);
            }
            posted[r] = true;
        }

        /** Runs compute action {@code a}; false if (buffered) its producer on another rank has not run yet. */
        private boolean compute(int r, int k, Action a) {
            int s = a.stage();
            int mb = a.microBatch();
            ActionType type = a.type();
            boolean forward = type == ActionType.FORWARD;
            if (forward && forwardStep[s][mb] >= 0) {
                throw fail(r, k, a + " runs twice: it already ran at step " + forwardStep[s][mb]
                        + ", storing the activation of stage " + s + " micro-batch " + mb + " a second time");
            }
            if (!forward && forwardStep[s][mb] < 0) {
                throw fail(r, k, a + " runs before its forward " + Action.forward(s, mb) + ": no activation of"
                        + " stage " + s + " micro-batch " + mb + " is held on rank " + r);
            }
            if (type == ActionType.BACKWARD && inputStep[s][mb] >= 0) {
                throw fail(r, k, a + " runs after " + Action.backwardInput(s, mb) + " (step " + inputStep[s][mb]
                        + "): a micro-batch's backward is one B or one I and one W, not both");
            }
            if (type == ActionType.BACKWARD_WEIGHT && inputStep[s][mb] < 0) {
                throw fail(r, k, a + " runs before " + Action.backwardInput(s, mb) + ": the weight gradient needs"
                        + " the input-gradient half of the same micro-batch first"
                        + (backwardStep[s][mb] >= 0 ? " (this micro-batch ran a whole B)" : ""));
            }
            if (type.freesActivation() && freedStep[s][mb] >= 0) {
                throw fail(r, k, "activation of stage " + s + " micro-batch " + mb + " freed twice: " + a
                        + " here, and already by "
                        + ((Step.Compute) steps.get(r).get(freedStep[s][mb])).action()
                        + " at step " + freedStep[s][mb]);
            }
            if (type.makesInputGradient() && backwardStep[s][mb] >= 0) {
                throw fail(r, k, a + " computes the input gradient of stage " + s + " micro-batch " + mb
                        + " again: step " + backwardStep[s][mb] + " already did");
            }
            double ready = 0;
            if (type != ActionType.BACKWARD_WEIGHT) {
                int from = forward ? s - 1 : s + 1;
                ready = from < 0 || from >= stages ? 0 : inputReady(r, k, a, from);
                if (Double.isNaN(ready)) {
                    return false;
                }
            }
            double duration = costs.duration(a);
            if (!(duration >= 0 && Double.isFinite(duration))) {
                throw new IllegalArgumentException("cost model gave duration " + duration + " for " + a
                        + ": durations must be finite and >= 0");
            }
            double start = Math.max(clock[r], ready);
            clock[r] = start + duration;
            slots.get(r).add(new Timeline.Slot(a, start, clock[r]));
            if (forward) {
                forwardStep[s][mb] = k;
                forwardEnd[s][mb] = clock[r];
                liveOnStage[s]++;
                liveOnRank[r]++;
                peakOnStage[s] = Math.max(peakOnStage[s], liveOnStage[s]);
                peakOnRank[r] = Math.max(peakOnRank[r], liveOnRank[r]);
                return true;
            }
            if (type.makesInputGradient()) {
                backwardStep[s][mb] = k;
                backwardEnd[s][mb] = clock[r];
            }
            if (type == ActionType.BACKWARD_INPUT) {
                inputStep[s][mb] = k;
            }
            if (type.freesActivation()) {
                freedStep[s][mb] = k;
                liveOnStage[s]--;
                liveOnRank[r]--;
            }
            return true;
        }

        /**
         * When the input of {@code a} from stage {@code from} (its input activation for a forward, its output
         * gradient for a backward) is there: 0 if it was made earlier on this rank or received by a completed
         * {@code RECV}; buffered, its producer's end, or NaN while the producer on another rank has not run.
         */
        private double inputReady(int r, int k, Action a, int from) {
            int mb = a.microBatch();
            boolean forward = a.type() == ActionType.FORWARD;
            int[][] doneStep = forward ? forwardStep : backwardStep;
            String what = forward ? "input activation" : "output gradient";
            Action producer = forward ? Action.forward(from, mb) : new Action(from, producerType(from, mb), mb);
            if (schedule.rankOf(from) == r) {
                if (doneStep[from][mb] < 0) {
                    throw fail(r, k, a + " runs before its " + what + ": " + producer + " (same rank " + r
                            + ") has not run yet");
                }
                return 0;
            }
            if (buffered) {
                return doneStep[from][mb] < 0 ? Double.NaN : (forward ? forwardEnd : backwardEnd)[from][mb];
            }
            if (!(forward ? inputArrived : gradArrived)[a.stage()][mb]) {
                Action receive = new Action(a.stage(), forward ? ActionType.RECV_F : ActionType.RECV_B, mb);
                Location later = commAt.get(receive);
                throw fail(r, k, a + " runs before its " + what + " from " + producer + " on rank "
                        + schedule.rankOf(from) + " arrived: "
                        + (later == null ? "there is no " + receive + " on rank " + r
                                : receive + " comes later, at step " + later.step())
                        + (schedule.hasCommunication() ? ""
                                : " (the schedule has no sends/receives: lower it with SendRecvLowering.lower)"));
            }
            return 0;
        }

        /** Whether stage {@code stage}'s input gradient of {@code mb} is made by its I (the schedule has one) or B. */
        private ActionType producerType(int stage, int mb) {
            List<Step> rank = steps.get(schedule.rankOf(stage));
            for (Step step : rank) {
                if (step instanceof Step.Compute c && c.action().equals(Action.backwardInput(stage, mb))) {
                    return ActionType.BACKWARD_INPUT;
                }
            }
            return ActionType.BACKWARD;
        }

        private void checkPlacementAndPairs() {
            for (int r = 0; r < p; r++) {
                List<Step> rankSteps = steps.get(r);
                for (int k = 0; k < rankSteps.size(); k++) {
                    List<Action> actions = switch (rankSteps.get(k)) {
                        case Step.Compute c -> List.of(c.action());
                        case Step.Group g -> g.ops();
                    };
                    for (Action a : actions) {
                        checkPlacement(r, k, a);
                    }
                }
            }
            for (Map.Entry<Action, Location> e : commAt.entrySet()) {
                Action op = e.getKey();
                Action partner = op.counterpart();
                if (!commAt.containsKey(partner)) {
                    throw fail(e.getValue().rank(), e.getValue().step(), op + " has no matching " + partner + " on rank "
                            + schedule.rankOf(partner.stage()) + ": every " + (op.type().isSend() ? "send" : "receive")
                            + " needs its partner");
                }
            }
            checkIssueOrder();
        }

        /**
         * NCCL (like MPI without tags) pairs the sends from rank a to rank b with the receives on b from a in the order
         * they are issued, groups included; so b must receive a's tensors in the order a sends them.
         */
        private void checkIssueOrder() {
            Map<Integer, List<Action>> sent = new HashMap<>();
            Map<Integer, List<Action>> received = new HashMap<>();
            for (int r = 0; r < p; r++) {
                for (Step step : steps.get(r)) {
                    if (step instanceof Step.Group g) {
                        for (Action op : g.ops()) {
                            int peer = schedule.rankOf(op.counterpart().stage());
                            if (op.type().isSend()) {
                                sent.computeIfAbsent(r * p + peer, key -> new ArrayList<>()).add(op);
                            } else {
                                received.computeIfAbsent(peer * p + r, key -> new ArrayList<>()).add(op.counterpart());
                            }
                        }
                    }
                }
            }
            for (Map.Entry<Integer, List<Action>> e : sent.entrySet()) {
                List<Action> sends = e.getValue();
                List<Action> recvs = received.get(e.getKey());
                for (int i = 0; i < sends.size(); i++) {
                    if (!sends.get(i).equals(recvs.get(i))) {
                        Location send = commAt.get(sends.get(i));
                        Location recv = commAt.get(recvs.get(i).counterpart());
                        throw new InvalidScheduleException("rank " + send.rank() + " sends to rank " + recv.rank()
                                + " in another order than rank " + recv.rank() + " receives: send #" + i + " is "
                                + sends.get(i) + " (rank " + send.rank() + " step " + send.step() + ") but receive #"
                                + i + " is " + recvs.get(i).counterpart() + " (rank " + recv.rank() + " step "
                                + recv.step() + "); NCCL pairs the sends and receives between two ranks in issue"
                                + " order, so the receiver must post them in the sender's order",
                                ScheduleTable.format(schedule, Map.of(send.rank(), send.step(), recv.rank(),
                                        recv.step())));
                    }
                }
            }
        }

        private void checkPlacement(int r, int k, Action a) {
            if (a.stage() >= stages) {
                throw fail(r, k, a + ": stage " + a.stage() + " out of range, the schedule has " + stages
                        + " stages (p=" + p + " × v=" + schedule.stagesPerRank() + ")");
            }
            if (a.microBatch() >= m) {
                throw fail(r, k, a + ": micro-batch " + a.microBatch() + " out of range, the schedule has m=" + m);
            }
            if (schedule.rankOf(a.stage()) != r) {
                throw fail(r, k, a + " is on rank " + r + ", but stage " + a.stage() + " lives on rank "
                        + schedule.rankOf(a.stage()) + " (stage s lives on rank s mod p, p=" + p + ")");
            }
            if (a.isCompute()) {
                return;
            }
            int peer = a.stage() + a.type().peerOffset();
            if (peer < 0 || peer >= stages) {
                throw fail(r, k, a + ": stage " + a.stage() + " has no stage " + peer + " to exchange with");
            }
            if (schedule.rankOf(peer) == r) {
                throw fail(r, k, a + ": stages " + a.stage() + " and " + peer + " both live on rank " + r
                        + ", they exchange nothing");
            }
            Location other = commAt.putIfAbsent(a, new Location(r, k));
            if (other != null) {
                throw fail(r, k, a + " appears twice: also at step " + other.step());
            }
        }

        private void checkEveryMicroBatchDone() {
            for (int s = 0; s < stages; s++) {
                for (int mb = 0; mb < m; mb++) {
                    int r = schedule.rankOf(s);
                    if (forwardStep[s][mb] < 0) {
                        throw new InvalidScheduleException(Action.forward(s, mb) + " never runs: rank " + r
                                + " has no forward of stage " + s + " micro-batch " + mb,
                                ScheduleTable.format(schedule, Map.of()));
                    }
                    if (freedStep[s][mb] < 0) {
                        throw fail(r, forwardStep[s][mb], "the activation stored here by " + Action.forward(s, mb)
                                + " is never freed: rank " + r + " has no " + (inputStep[s][mb] >= 0
                                ? Action.backwardWeight(s, mb) + " after its " + Action.backwardInput(s, mb)
                                : Action.backward(s, mb)));
                    }
                }
            }
        }

        private InvalidScheduleException deadlock() {
            StringJoiner waits = new StringJoiner("\n");
            Map<Integer, Integer> blocked = new HashMap<>();
            for (int r = 0; r < p; r++) {
                if (pc[r] >= steps.get(r).size()) {
                    continue;
                }
                blocked.put(r, pc[r]);
                Step.Group g = (Step.Group) steps.get(r).get(pc[r]);
                for (Action op : g.ops()) {
                    if (matchedAt.containsKey(op)) {
                        continue;
                    }
                    Location peer = commAt.get(op.counterpart());
                    Step at = steps.get(peer.rank()).get(pc[peer.rank()]);
                    waits.add("  rank " + r + " step " + pc[r] + ": " + op + " waits for " + op.counterpart()
                            + " (rank " + peer.rank() + " step " + peer.step() + "), but rank " + peer.rank()
                            + " is blocked at step " + pc[peer.rank()] + " on " + ScheduleTable.cell(at));
                }
            }
            return new InvalidScheduleException("deadlock: every unfinished rank is blocked in a send/recv whose"
                    + " partner is never posted (blocking semantics, each step's sends/receives issued as one"
                    + " group):\n" + waits, ScheduleTable.format(schedule, blocked));
        }

        private InvalidScheduleException stuck() {
            StringJoiner waits = new StringJoiner("\n");
            Map<Integer, Integer> blocked = new HashMap<>();
            for (int r = 0; r < p; r++) {
                if (pc[r] < steps.get(r).size()) {
                    blocked.put(r, pc[r]);
                    Action a = ((Step.Compute) steps.get(r).get(pc[r])).action();
                    boolean forward = a.type() == ActionType.FORWARD;
                    int from = forward ? a.stage() - 1 : a.stage() + 1;
                    waits.add("  rank " + r + " step " + pc[r] + ": " + a + " waits for "
                            + (forward ? Action.forward(from, a.microBatch())
                            : new Action(from, producerType(from, a.microBatch()), a.microBatch()))
                            + " on rank " + schedule.rankOf(from));
                }
            }
            return new InvalidScheduleException("stuck: every unfinished rank waits for a forward or backward that"
                    + " another rank only runs later (or never), even with unlimited buffering:\n" + waits,
                    ScheduleTable.format(schedule, blocked));
        }

        private InvalidScheduleException fail(int rank, int step, String reason) {
            return new InvalidScheduleException("rank " + rank + " step " + step + ": " + reason,
                    ScheduleTable.format(schedule, Map.of(rank, step)));
        }

        private static int[][] filled(int rows, int cols) {
            int[][] a = new int[rows][cols];
            for (int[] row : a) {
                Arrays.fill(row, -1);
            }
            return a;
        }
    }
}
