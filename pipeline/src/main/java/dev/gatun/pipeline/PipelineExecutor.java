package dev.gatun.pipeline;

import dev.gatun.collectives.Communicator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.IntFunction;

/**
 * Runs one training step of a lowered pipeline schedule on one rank, exactly as the package documentation says an
 * executor does: the rank walks {@code schedule.steps(rank)} in order; a {@link Step.Compute} runs a local stage's
 * forward or backward on inputs that are already local (the micro-batch's data, a local neighbour stage's result, or
 * a received tensor); a {@link Step.Group} issues its sends and receives in list order as one
 * {@link Communicator#group grouped call} and continues once all are done.
 *
 * <p>Every rank of the pipeline group calls {@link #run} with its own communicator (of {@code schedule.ranks()} ranks,
 * the pipeline rank being {@link Communicator#rank()}) and its local stages. Received tensors are allocated from the
 * allocator given, of the receiving stage's {@link PipelineStage#inputSpec}/{@link PipelineStage#outputSpec}; every
 * tensor the executor owns (stage results, loss gradients, receive buffers) is closed once consumed, so a run that
 * returns has freed all of them. When a step fails the rank frees what it holds and throws a
 * {@link PipelineExecutionException}; its peers then fail in their next send/receive to it (a communicator's abort or
 * timeout) instead of waiting for ever.
 *
 * <pre>{@code
 * PipelineExecutor exec = new PipelineExecutor(SendRecvLowering.lower(Schedules.oneFOneB(p, m)));
 * PipelineResult r = exec.run(comm, List.of(myStage), mb -> inputs[mb], loss, allocator);
 * }</pre>
 */
public final class PipelineExecutor {
    private final Schedule schedule;
    private final Timeline timeline;

    /**
     * An executor for {@code schedule}, which is validated first.
     *
     * @throws InvalidScheduleException if {@link ScheduleSimulator#validate} rejects it (for {@code p > 1} a schedule
     *                                  straight from {@link Schedules} is rejected: lower it with
     *                                  {@link SendRecvLowering#lower})
     */
    public PipelineExecutor(Schedule schedule) {
        this.schedule = Objects.requireNonNull(schedule, "schedule must not be null");
        this.timeline = ScheduleSimulator.validate(schedule);
    }

    /** The schedule run. */
    public Schedule schedule() {
        return schedule;
    }

    /** The validated schedule's simulated timeline: the figures a run should reproduce (e.g. peak in-flight). */
    public Timeline timeline() {
        return timeline;
    }

    /**
     * Runs rank {@code comm.rank()}'s steps.
     *
     * @param comm        this rank's communicator over the pipeline group, of {@code schedule.ranks()} ranks
     * @param localStages this rank's stages by model chunk: element {@code c} is stage {@code c·p + rank}
     * @param inputs      micro-batch {@code mb}'s input to stage 0 (read on the rank holding stage 0; stays the
     *                    caller's)
     * @param loss        the loss (used on the rank holding the last stage)
     * @param allocator   where receive buffers come from
     * @throws IllegalArgumentException    if the communicator's size or the number of stages does not fit the schedule
     * @throws PipelineExecutionException  if a step fails, naming rank, step and action
     */
    public PipelineResult run(Communicator comm, List<? extends PipelineStage> localStages, IntFunction<Tensor> inputs,
                              PipelineLoss loss, TensorAllocator allocator) {
        Objects.requireNonNull(comm, "comm must not be null");
        Objects.requireNonNull(inputs, "inputs must not be null");
        Objects.requireNonNull(loss, "loss must not be null");
        Objects.requireNonNull(allocator, "allocator must not be null");
        if (comm.size() != schedule.ranks()) {
            throw new IllegalArgumentException("communicator '" + comm.name() + "' has " + comm.size()
                    + " ranks, but the schedule " + schedule.summary() + " needs p=" + schedule.ranks());
        }
        if (localStages.size() != schedule.stagesPerRank()) {
            throw new IllegalArgumentException("rank " + comm.rank() + " got " + localStages.size()
                    + " stages, but the schedule " + schedule.summary() + " places v=" + schedule.stagesPerRank()
                    + " stages (model chunks) on every rank");
        }
        return new RankRun(comm, List.copyOf(localStages), inputs, loss, allocator).run();
    }

    /** The state of one rank's run: tensors waiting for the action that consumes them, and the activation count. */
    private final class RankRun {
        private final Communicator comm;
        private final int rank;
        private final List<PipelineStage> stages;
        private final IntFunction<Tensor> inputs;
        private final PipelineLoss loss;
        private final TensorAllocator allocator;
        private final int last = schedule.stages() - 1;
        /** Owned tensors keyed by the action that consumes them: {@code sFmb}, {@code sBmb}, {@code sSEND_Fmb}, … */
        private final Map<Action, Tensor> ready = new HashMap<>();
        private final Map<Integer, Integer> inFlight = new HashMap<>();
        private final Map<Integer, Integer> peak = new HashMap<>();
        private final Double[] losses;
        private final List<Timeline.Slot> measured = new ArrayList<>();
        private final long origin = System.nanoTime();

        RankRun(Communicator comm, List<PipelineStage> stages, IntFunction<Tensor> inputs, PipelineLoss loss,
                TensorAllocator allocator) {
            this.comm = comm;
            this.rank = comm.rank();
            this.stages = stages;
            this.inputs = inputs;
            this.loss = loss;
            this.allocator = allocator;
            this.losses = new Double[schedule.microBatches()];
            for (int c = 0; c < schedule.stagesPerRank(); c++) {
                inFlight.put(c * schedule.ranks() + rank, 0);
                peak.put(c * schedule.ranks() + rank, 0);
            }
        }

        PipelineResult run() {
            List<Step> steps = schedule.steps(rank);
            boolean ok = false;
            try {
                for (int k = 0; k < steps.size(); k++) {
                    Step step = steps.get(k);
                    try {
                        switch (step) {
                            case Step.Compute c when c.action().type() == ActionType.FORWARD -> {
                                double start = millis();
                                forward(c.action());
                                measured.add(new Timeline.Slot(c.action(), start, millis()));
                            }
                            case Step.Compute c when c.action().type() == ActionType.BACKWARD_WEIGHT -> {
                                double start = millis();
                                stage(c.action().stage()).backwardWeight(c.action().microBatch());
                                inFlight.merge(c.action().stage(), -1, Integer::sum);
                                measured.add(new Timeline.Slot(c.action(), start, millis()));
                            }
                            case Step.Compute c -> {
                                double start = millis();
                                backward(c.action());
                                measured.add(new Timeline.Slot(c.action(), start, millis()));
                            }
                            case Step.Group g -> group(g.ops());
                        }
                    } catch (RuntimeException | Error e) {
                        throw new PipelineExecutionException(rank, k, ScheduleTable.cell(step), e);
                    }
                }
                if (!ready.isEmpty()) {
                    throw new IllegalStateException("rank " + rank + " finished with unconsumed tensors for "
                            + ready.keySet() + "; the validator should have rejected this schedule");
                }
                ok = true;
            } finally {
                if (!ok) {
                    ready.values().forEach(Tensor::close);
                    ready.clear();
                }
            }
            List<Double> out = schedule.rankOf(last) == rank ? List.of(losses) : List.of();
            return new PipelineResult(rank, out, peak, measured);
        }

        private double millis() {
            return (System.nanoTime() - origin) / 1e6;
        }

        private void forward(Action a) {
            int s = a.stage();
            int mb = a.microBatch();
            Tensor received = s == 0 ? null : take(a);
            Tensor output;
            try {
                output = stage(s).forward(mb, received == null ? inputs.apply(mb) : received);
            } finally {
                if (received != null) {
                    received.close();
                }
            }
            int held = inFlight.merge(s, 1, Integer::sum);
            peak.merge(s, held, Math::max);
            requireSpec(output, stage(s).outputSpec(mb), a, "output");
            if (s == last) {
                try (output) {
                    PipelineLoss.Result r = loss.evaluate(mb, output, 1.0 / schedule.microBatches());
                    losses[mb] = r.loss();
                    put(Action.backward(s, mb), r.outputGrad());
                }
            } else {
                put(local(s + 1) ? Action.forward(s + 1, mb) : new Action(s, ActionType.SEND_F, mb), output);
            }
        }

        /** A whole backward, or the input-gradient half of a split one (its output gradient waits under B's key). */
        private void backward(Action a) {
            int s = a.stage();
            int mb = a.microBatch();
            boolean whole = a.type() == ActionType.BACKWARD;
            Tensor inputGrad;
            try (Tensor outputGrad = take(Action.backward(s, mb))) {
                inputGrad = whole ? stage(s).backward(mb, outputGrad) : stage(s).backwardInput(mb, outputGrad);
            }
            if (whole) {
                inFlight.merge(s, -1, Integer::sum);
            }
            if (s == 0) {
                if (inputGrad != null) {
                    inputGrad.close();
                }
                return;
            }
            requireSpec(inputGrad, stage(s).inputSpec(mb), a, "input gradient");
            put(local(s - 1) ? Action.backward(s - 1, mb) : new Action(s, ActionType.SEND_B, mb), inputGrad);
        }

        /** Sends and receives of one step as one grouped call; sent tensors are freed once the group is done. */
        private void group(List<Action> ops) {
            List<Tensor> sent = new ArrayList<>();
            Map<Action, Tensor> received = new HashMap<>();
            boolean ok = false;
            try {
                comm.group(() -> {
                    for (Action op : ops) {
                        int s = op.stage();
                        int mb = op.microBatch();
                        switch (op.type()) {
                            case SEND_F, SEND_B -> {
                                Tensor t = take(op);
                                sent.add(t);
                                comm.send(t, schedule.rankOf(s + op.type().peerOffset()));
                            }
                            case RECV_F, RECV_B -> {
                                boolean fwd = op.type() == ActionType.RECV_F;
                                TensorSpec spec = fwd ? stage(s).inputSpec(mb) : stage(s).outputSpec(mb);
                                Tensor t = Tensor.allocate(allocator, spec.dtype(), spec.shape(),
                                        MemoryCategory.COMMUNICATION, "pipeline." + op, comm.stream());
                                received.put(fwd ? Action.forward(s, mb) : Action.backward(s, mb), t);
                                comm.recv(t, schedule.rankOf(s + op.type().peerOffset()));
                            }
                            case FORWARD, BACKWARD, BACKWARD_INPUT, BACKWARD_WEIGHT ->
                                    throw new IllegalStateException(op + " in a group");
                        }
                    }
                });
                ok = true;
            } finally {
                sent.forEach(Tensor::close);
                if (ok) {
                    received.forEach(this::put);
                } else {
                    received.values().forEach(Tensor::close);
                }
            }
        }

        private PipelineStage stage(int s) {
            return stages.get(schedule.chunkOf(s));
        }

        private boolean local(int s) {
            return schedule.rankOf(s) == rank;
        }

        private void put(Action consumer, Tensor t) {
            Tensor old = ready.put(consumer, t);
            if (old != null) {
                old.close();
                throw new IllegalStateException("a tensor for " + consumer + " was already waiting");
            }
        }

        private Tensor take(Action consumer) {
            Tensor t = ready.remove(consumer);
            if (t == null) {
                throw new IllegalStateException("no tensor is ready for " + consumer + " on rank " + rank
                        + "; the validator should have rejected this schedule");
            }
            return t;
        }

        private void requireSpec(Tensor t, TensorSpec spec, Action a, String what) {
            if (t == null || !spec.matches(t)) {
                if (t != null) {
                    t.close();
                }
                throw new IllegalStateException(a + " returned " + (t == null ? "null" : t.dtype().shortName()
                        + t.shape()) + " as its " + what + ", but the stage declares " + spec);
            }
        }
    }
}
