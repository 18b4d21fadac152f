package dev.gatun.gpt.train;

import dev.gatun.gpt.model.GptConfig;
import dev.gatun.gpt.model.ModelPartition;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.Recompute;
import dev.gatun.train.RecomputePlan;
import dev.gatun.memory.ByteSize;
import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.pipeline.Action;
import dev.gatun.pipeline.ActionType;
import dev.gatun.pipeline.Schedule;
import dev.gatun.pipeline.Step;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Each rank's memory by category, predicted before anything is allocated, by replaying at the size of whole tensors
 * what {@link dev.gatun.train.RankTrainer} allocates and frees while it builds its layers and optimizer and runs its first step (the
 * step whose peak every later step repeats): the layers' fp32 parameters and gradients, the ZeRO flat buffers
 * ({@code ShardedParameters}, {@link dev.gatun.zero.ZeroOptimizer}: Ψ padded per layer to a multiple of dp), each
 * layer's saved activations per micro-batch in flight and the temporaries of its backward, in the order the rank's
 * pipeline schedule runs its forwards, backwards, sends and receives; ZeRO-3's gathered and prefetched layers,
 * ZeRO-2/3's materialized and in-flight gradient units, mixed precision's fp32 copies and bf16/fp16 casts.
 *
 * <p>With {@code N = b·T} rows per micro-batch of {@code b = batch/(dp·m)} sequences, a transformer block saves
 * {@code 4·(3NC + 4N + 12NC/tp + b·(H/tp)·T²)} bytes besides its input and output ({@code 4NC} each), and the last
 * stage holds the logits' gradient {@code 4·N·V/tp} from its loss to its backward. Selective recomputation drops the
 * {@code 4·b·(H/tp)·T²} of the attention probabilities from what a block keeps (they come back for its backward
 * only); full recomputation keeps none of it (the block's input, which the stage keeps, is all), and the backward
 * first allocates the whole forward again. The model states are ZeRO's
 * {@code (2+2+K)·Ψ} family at this library's precisions (see {@link ZeroStage#modelStateBytes}) plus what the formula
 * leaves out: while the model is built, the layers' own fp32 values and gradients ({@code 8Ψ}) next to the flat
 * buffers, so the build can peak above the training step (ZeRO-3 shards only once the whole stage is built).
 *
 * <p>Ranks that differ only in their dp or tp coordinate hold the same shapes, so one estimate stands for each
 * pipeline rank. The CPU backend's attention scratch comes from its own allocator and is given apart
 * ({@link RankEstimate#backendScratchBytes()}), as is what the JVM itself needs.
 */
public final class MemoryEstimate {
    /**
     * One pipeline rank's prediction; every (dp, tp) rank of that pipeline rank is alike.
     *
     * @param ppRank              the pipeline rank
     * @param peakBytes           the peak of each category (as the accountant's report shows them)
     * @param totalPeakBytes      the peak of the sum of the categories, over the build and the step
     * @param buildPeakBytes      the peak of the sum while the layers and the optimizer are built
     * @param backendScratchBytes the largest attention scratch the CPU backend takes from its own allocator
     */
    public record RankEstimate(int ppRank, Map<MemoryCategory, Long> peakBytes, long totalPeakBytes,
                               long buildPeakBytes, long backendScratchBytes) {
        public RankEstimate {
            peakBytes = Collections.unmodifiableMap(new EnumMap<>(peakBytes));
        }

        /** The peak of one category. */
        public long peak(MemoryCategory category) {
            return peakBytes.getOrDefault(category, 0L);
        }

        /** What this rank needs at its peak, the backend's scratch included. */
        public long neededBytes() {
            return totalPeakBytes + backendScratchBytes;
        }
    }

    private final List<RankEstimate> byPipelineRank;
    private final int ranksPerPipelineRank;

    private MemoryEstimate(List<RankEstimate> byPipelineRank, int ranksPerPipelineRank) {
        this.byPipelineRank = byPipelineRank;
        this.ranksPerPipelineRank = ranksPerPipelineRank;
    }

    /**
     * The estimate for {@code config} trained in {@code layout} at {@code policy} with a global batch of
     * {@code batchSequences} sequences.
     *
     * @throws IllegalArgumentException when the layout does not fit the model or the batch
     */
    public static MemoryEstimate of(GptConfig config, ParallelLayout layout, PrecisionPolicy policy,
                                    int batchSequences) {
        return of(config, layout, policy, batchSequences, RecomputePlan.NONE);
    }

    /**
     * The estimate for {@code config} trained in {@code layout} at {@code policy} with a global batch of
     * {@code batchSequences} sequences, its blocks recomputing activations as {@code recompute} says.
     *
     * @throws IllegalArgumentException when the layout does not fit the model or the batch
     */
    public static MemoryEstimate of(GptConfig config, ParallelLayout layout, PrecisionPolicy policy,
                                    int batchSequences, RecomputePlan recompute) {
        Objects.requireNonNull(config, "config must not be null");
        Objects.requireNonNull(recompute, "recompute must not be null");
        Objects.requireNonNull(layout, "layout must not be null");
        Objects.requireNonNull(policy, "policy must not be null");
        layout.validate(new GptModel(config), batchSequences);
        Schedule schedule = layout.schedule().build(layout.pp(), layout.microBatches(), layout.virtualStages());
        List<Integer> blocks = ModelPartition.of(config, layout.stages()).blocks().layersPerStage();
        List<RankEstimate> ranks = new ArrayList<>();
        for (int p = 0; p < layout.pp(); p++) {
            ranks.add(new Replay(config, layout, policy, batchSequences, blocks, schedule, p, recompute).run());
        }
        return new MemoryEstimate(List.copyOf(ranks), layout.dp() * layout.tp());
    }

    /** One estimate per pipeline rank, in pipeline order. */
    public List<RankEstimate> pipelineRanks() {
        return byPipelineRank;
    }

    /** The estimate of the rank with the largest need. */
    public RankEstimate largest() {
        return byPipelineRank.stream().max(java.util.Comparator.comparingLong(RankEstimate::neededBytes))
                .orElseThrow();
    }

    /** The sum of every rank's need: what ranks that share one memory (threads of one JVM) need together. */
    public long worldBytes() {
        return byPipelineRank.stream().mapToLong(RankEstimate::neededBytes).sum() * ranksPerPipelineRank;
    }

    @Override
    public String toString() {
        RankEstimate r = largest();
        return "largest rank (pp " + r.ppRank() + "): " + ByteSize.format(r.neededBytes()) + " (params "
                + ByteSize.format(r.peak(MemoryCategory.PARAMETERS)) + ", grads "
                + ByteSize.format(r.peak(MemoryCategory.GRADIENTS)) + ", optimizer "
                + ByteSize.format(r.peak(MemoryCategory.OPTIMIZER_STATE)) + ", activations "
                + ByteSize.format(r.peak(MemoryCategory.ACTIVATIONS)) + ")";
    }

    /** Current and peak bytes per category and of their sum. */
    private static final class Ledger {
        private final long[] current = new long[MemoryCategory.values().length];
        private final long[] peak = new long[current.length];
        private long total;
        private long totalPeak;

        void alloc(MemoryCategory c, long bytes) {
            current[c.ordinal()] += bytes;
            peak[c.ordinal()] = Math.max(peak[c.ordinal()], current[c.ordinal()]);
            total += bytes;
            totalPeak = Math.max(totalPeak, total);
        }

        void free(MemoryCategory c, long bytes) {
            current[c.ordinal()] -= bytes;
            total -= bytes;
        }

        /** A temporary: allocated and freed at once. */
        void bump(MemoryCategory c, long bytes) {
            alloc(c, bytes);
            free(c, bytes);
        }

        Map<MemoryCategory, Long> peaks() {
            Map<MemoryCategory, Long> m = new EnumMap<>(MemoryCategory.class);
            for (MemoryCategory c : MemoryCategory.values()) {
                m.put(c, peak[c.ordinal()]);
            }
            return m;
        }
    }

    private enum Kind { EMBEDDING, BLOCK, HEAD }

    /** A layer of this rank: one ZeRO unit. */
    private record Unit(Kind kind, long numel, long computeOnly, long padded, boolean deferred, Recompute recompute) {
    }

    /** The replay of one pipeline rank. */
    private static final class Replay {
        private static final MemoryCategory P = MemoryCategory.PARAMETERS;
        private static final MemoryCategory G = MemoryCategory.GRADIENTS;
        private static final MemoryCategory O = MemoryCategory.OPTIMIZER_STATE;
        private static final MemoryCategory A = MemoryCategory.ACTIVATIONS;
        private static final MemoryCategory COMM = MemoryCategory.COMMUNICATION;
        private static final MemoryCategory W = MemoryCategory.WORKSPACE;

        private final ParallelLayout layout;
        private final Schedule schedule;
        private final int ppRank;
        private final boolean fp32;
        private final long pb;
        private final ZeroStage zero;
        private final boolean shardedGrads;
        // shapes, in elements
        private final long n;
        private final long c;
        private final long tp;
        private final long vLocal;
        private final long attention;
        /** Sequence parallelism: the token rows this rank holds between the tp regions ({@code n/tp}; else n). */
        private final boolean sp;
        private final long rows;
        private final Ledger ledger = new Ledger();
        private final List<Unit> units = new ArrayList<>();
        /** Per chunk of this rank: the indices of its units, in model order. */
        private final Map<Integer, List<Integer>> chunkUnits = new HashMap<>();
        private final int embeddingUnit;
        private final boolean headBorrowsEmbedding;
        private final boolean[] ownGradsLeft;
        private final Set<Integer> gathered = new HashSet<>();
        private final Set<Integer> gradsMaterialized = new HashSet<>();
        private final Map<Integer, Integer> backwards = new HashMap<>();
        /** Tensors waiting for their consumer: negative bytes an activation, positive a receive buffer. */
        private final Map<Action, Long> ready = new HashMap<>();
        /** Split backwards: the bytes each pending weight half frees (what the layers kept and their inputs). */
        private final Map<Action, Long> pendingWeights = new HashMap<>();
        private Integer inFlight;
        private long scratch;

        Replay(GptConfig config, ParallelLayout layout, PrecisionPolicy policy, int batch, List<Integer> blocks,
               Schedule schedule, int ppRank, RecomputePlan recompute) {
            this.layout = layout;
            this.schedule = schedule;
            this.ppRank = ppRank;
            this.fp32 = policy.paramDtype() == DType.FP32;
            this.pb = policy.paramDtype().byteSize();
            this.zero = layout.zero();
            this.shardedGrads = zero == ZeroStage.TWO || zero == ZeroStage.THREE;
            this.c = config.channels();
            this.tp = layout.tp();
            long b = batch / ((long) layout.dp() * layout.microBatches());
            this.n = b * config.seqLen();
            this.vLocal = config.paddedVocab(layout.tp()) / tp;
            this.attention = b * (config.heads() / tp) * (long) config.seqLen() * config.seqLen();
            this.sp = layout.sequenceParallel();
            this.rows = sp ? n / tp : n;
            int dp = layout.dp();
            int stages = layout.stages();
            boolean tiedAcrossStages = config.tiedHead() && layout.pp() > 1;
            boolean headOwnsWeight = !config.tiedHead() || stages > 1;
            int embedding = -1;
            for (int chunk = 0; chunk < layout.virtualStages(); chunk++) {
                int s = chunk * layout.pp() + ppRank;
                int firstBlock = blocks.subList(0, s).stream().mapToInt(Integer::intValue).sum();
                List<Integer> mine = new ArrayList<>();
                if (s == 0) {
                    embedding = units.size();
                    mine.add(add(Kind.EMBEDDING, vLocal * c + (long) config.seqLen() * c, 0, dp, tiedAcrossStages,
                            Recompute.NONE));
                }
                for (int i = 0; i < blocks.get(s); i++) {
                    mine.add(add(Kind.BLOCK, 12 * c * c / tp + 7 * c / tp + 6 * c, 12 * c * c / tp, dp, false,
                            recompute.modeOf("h" + (firstBlock + i))));
                }
                if (s == stages - 1) {
                    long w = headOwnsWeight ? vLocal * c : 0;
                    mine.add(add(Kind.HEAD, 2 * c + w, w, dp, tiedAcrossStages, Recompute.NONE));
                }
                chunkUnits.put(chunk, mine);
            }
            this.embeddingUnit = embedding;
            this.headBorrowsEmbedding = !headOwnsWeight;
            this.ownGradsLeft = new boolean[units.size()];
        }

        private int add(Kind kind, long numel, long computeOnly, int dp, boolean deferred, Recompute recompute) {
            units.add(new Unit(kind, numel, computeOnly, (numel + dp - 1) / dp * dp, deferred, recompute));
            return units.size() - 1;
        }

        RankEstimate run() {
            build();
            long buildPeak = ledger.totalPeak;
            step();
            return new RankEstimate(ppRank, ledger.peaks(), ledger.totalPeak, buildPeak, scratch);
        }

        private long psiPadded() {
            return units.stream().mapToLong(Unit::padded).sum();
        }

        private long psi() {
            return units.stream().mapToLong(Unit::numel).sum();
        }

        /** RankTrainer's constructor: the layers, then ShardedParameters' flat buffers, then the optimizer. */
        private void build() {
            long psi = psi();
            long padded = psiPadded();
            long shard = zero == ZeroStage.NONE ? padded : padded / layout.dp();
            ledger.alloc(P, 4 * psi); // each layer's fp32 values
            ledger.alloc(G, 4 * psi); // and gradients
            ledger.alloc(P, pb * padded); // the flat parameters
            if (fp32) {
                ledger.free(P, 4 * psi); // the layers' values become views of the flat buffer
            }
            ledger.alloc(G, pb * padded); // the flat gradients, released at once under ZeRO-2/3
            if (shardedGrads) {
                ledger.free(G, pb * padded);
                ledger.alloc(G, pb * shard);
            }
            if (zero == ZeroStage.THREE) {
                ledger.alloc(P, pb * shard);
                ledger.free(P, pb * padded);
            }
            if (!fp32) {
                ledger.alloc(O, 4 * shard); // fp32 master
                ledger.alloc(W, 4 * shard); // fp32 gradient shard for the update
            }
            ledger.alloc(O, 8 * shard); // Adam m, v
            ledger.alloc(W, 8);
            if (!fp32) { // the GEMM weights' fp32 values, copied into the master, go
                ledger.free(P, 4 * units.stream().mapToLong(Unit::computeOnly).sum());
            }
            if (fp32 && !shardedGrads) {
                ledger.free(G, 4 * psi); // the layers' gradients become views of the flat ones
            } else if (fp32) {
                java.util.Arrays.fill(ownGradsLeft, true); // freed when first rebound in a backward
            }
        }

        /** RankTrainer.step: the micro-batches' ids, the schedule, the reductions and the update. */
        private void step() {
            int m = layout.microBatches();
            boolean first = chunkUnits.values().stream().anyMatch(us -> us.contains(embeddingUnit));
            boolean last = units.stream().anyMatch(u -> u.kind() == Kind.HEAD);
            long ids = (first ? m : 0) * 4 * n + (last ? m : 0) * 4 * n;
            ledger.alloc(A, ids);
            for (Step s : schedule.steps(ppRank)) {
                switch (s) {
                    case Step.Compute cmp when cmp.action().type() == ActionType.FORWARD -> forward(cmp.action());
                    case Step.Compute cmp when cmp.action().type() == ActionType.BACKWARD_WEIGHT ->
                            backwardWeight(cmp.action());
                    case Step.Compute cmp -> backward(cmp.action());
                    case Step.Group g -> group(g.ops());
                }
            }
            for (int u = 0; u < units.size(); u++) { // finishBackward: the tied copies
                if (units.get(u).deferred()) {
                    reduce(u);
                }
            }
            if (inFlight != null && shardedGrads) {
                ledger.free(G, pb * units.get(inFlight).padded());
                gradsMaterialized.remove(inFlight);
            }
            ledger.bump(COMM, 4); // the loss all-reduce
            ledger.free(A, ids);
        }

        private void group(List<Action> ops) {
            List<Long> sent = new ArrayList<>();
            for (Action op : ops) {
                switch (op.type()) {
                    case SEND_F, SEND_B -> sent.add(ready.remove(op));
                    case RECV_F -> {
                        ledger.alloc(COMM, 4 * rows * c);
                        ready.put(Action.forward(op.stage(), op.microBatch()), 4 * rows * c);
                    }
                    case RECV_B -> {
                        ledger.alloc(COMM, 4 * rows * c);
                        ready.put(Action.backward(op.stage(), op.microBatch()), 4 * rows * c);
                    }
                    default -> throw new IllegalStateException(op + " in a group");
                }
            }
            sent.forEach(this::release);
        }

        private void release(long held) {
            if (held < 0) {
                ledger.free(A, -held);
            } else {
                ledger.free(COMM, held);
            }
        }

        /** Where a stage's output or input gradient waits: for the next chunk on this rank, or to be sent. */
        private Action consumer(int stage, ActionType send, int microBatch) {
            int next = stage + (send == ActionType.SEND_F ? 1 : -1);
            if (schedule.rankOf(next) == ppRank) {
                return send == ActionType.SEND_F ? Action.forward(next, microBatch) : Action.backward(next, microBatch);
            }
            return new Action(stage, send, microBatch);
        }

        private void forward(Action a) {
            int s = a.stage();
            List<Integer> us = chunkUnits.get(schedule.chunkOf(s));
            Long received = s == 0 ? null : ready.remove(a);
            ledger.alloc(A, s == 0 ? 4 * n : 4 * rows * c); // the stage's copy of its input
            for (int i = 0; i < us.size(); i++) {
                int u = us.get(i);
                beforeUse(u, false);
                if (i + 1 < us.size()) {
                    prefetch(us.get(i + 1));
                }
                forward(units.get(u));
                afterUse(u, false, false);
            }
            if (received != null) {
                release(received);
            }
            if (s == schedule.stages() - 1) { // the loss: dlogits kept for the backward, the logits freed
                ledger.alloc(A, 4 * n * vLocal);
                ledger.alloc(A, 4 * n);
                ledger.bump(COMM, 3 * 4 * n);
                ledger.free(A, 4 * n);
                ledger.free(A, 4 * n * vLocal);
                ready.put(Action.backward(s, a.microBatch()), -4 * n * vLocal);
            } else {
                ready.put(consumer(s, ActionType.SEND_F, a.microBatch()), -4 * rows * c);
            }
        }

        /** A layer's forward: what it allocates and keeps (the stage keeps each layer's input). */
        private void forward(Unit u) {
            long nc = n * c;
            long rc = rows * c;
            switch (u.kind()) {
                case EMBEDDING -> {
                    ledger.alloc(A, 4 * nc); // the lookup (this rank's partial sums under sequence parallelism)
                    if (sp) { // reduce-scattered to this rank's rows
                        ledger.alloc(A, 4 * rc);
                        ledger.free(A, 4 * nc);
                    }
                }
                case BLOCK -> {
                    ledger.alloc(A, 4 * (rc + 2 * rows)); // ln1
                    columnForward(3 * nc / tp); // qkv
                    ledger.alloc(A, 4 * (attention + nc / tp)); // att, out
                    scratch = Math.max(scratch, 4 * 4 * nc / tp);
                    rowForward(nc / tp); // the residual stream r
                    if (u.recompute() == Recompute.SELECTIVE) {
                        ledger.free(A, 4 * attention); // the probabilities, recomputed in the backward
                    }
                    ledger.alloc(A, 4 * (rc + 2 * rows)); // ln2
                    columnForward(4 * nc / tp); // fc out
                    ledger.alloc(A, 4 * 4 * nc / tp); // gelu
                    rowForward(4 * nc / tp); // output
                    if (u.recompute() == Recompute.FULL) { // all but the output, run again in the backward
                        ledger.free(A, 4 * (3 * rc + 4 * rows + 12 * nc / tp + attention));
                    }
                }
                case HEAD -> {
                    ledger.alloc(A, 4 * (rc + 2 * rows)); // ln_f
                    if (sp) { // its output all-gathered
                        ledger.alloc(A, 4 * nc);
                        ledger.free(A, 4 * rc);
                    }
                    cast(nc);
                    ledger.alloc(A, 4 * n * vLocal); // logits
                }
            }
        }

        /** A column-parallel forward: {@code out} elements (sequence parallel: its input all-gathered around it). */
        private void columnForward(long out) {
            if (!sp) {
                cast(n * c);
                ledger.alloc(A, 4 * out);
                return;
            }
            ledger.alloc(A, 4 * n * c);
            ledger.alloc(A, 4 * out);
            cast(n * c);
            ledger.free(A, 4 * n * c);
        }

        /** A row-parallel forward from {@code in} elements: {@code [n, C]} (sequence parallel: reduce-scattered). */
        private void rowForward(long in) {
            if (!sp) {
                cast(in);
                ledger.alloc(A, 4 * n * c);
                return;
            }
            ledger.alloc(A, 4 * n * c);
            cast(in);
            ledger.alloc(A, 4 * rows * c);
            ledger.free(A, 4 * n * c);
        }

        /**
         * A row-parallel backward to {@code din} elements (with its weight gradient unless {@code inputOnly});
         * sequence parallel: {@code dY} all-gathered first, freed after unless the weight half keeps it. Returns the
         * bytes it keeps.
         */
        private long rowBackward(long din, boolean inputOnly) {
            if (sp) {
                ledger.alloc(A, 4 * n * c);
            }
            ledger.alloc(A, 4 * din);
            cast(n * c);
            if (inputOnly) {
                return sp ? 4 * n * c : 0;
            }
            cast(n * c, din);
            if (sp) {
                ledger.free(A, 4 * n * c);
            }
            return 0;
        }

        /**
         * A column-parallel backward from {@code out} elements of {@code dY}: dX allocated (with its weight gradient
         * unless {@code inputOnly}; sequence parallel: dX reduce-scattered to this rank's rows, X all-gathered again).
         */
        private void columnBackward(long out, boolean inputOnly) {
            ledger.alloc(A, 4 * n * c);
            cast(out);
            if (sp) {
                ledger.alloc(A, 4 * rows * c);
                ledger.free(A, 4 * n * c);
            }
            if (!inputOnly) {
                columnWeight(out);
            }
        }

        /** A column-parallel weight gradient from {@code out} elements of {@code dY}. */
        private void columnWeight(long out) {
            if (sp) {
                ledger.alloc(A, 4 * n * c);
            }
            cast(out, n * c);
            if (sp) {
                ledger.free(A, 4 * n * c);
            }
        }

        /** Mixed precision: a GEMM operand cast to bf16/fp16 for the call. */
        private void cast(long elements) {
            if (!fp32) {
                ledger.bump(W, pb * elements);
            }
        }

        /** Mixed precision: the weight-gradient GEMM's two operands cast at once. */
        private void cast(long a, long b) {
            if (!fp32) {
                ledger.bump(W, pb * (a + b));
            }
        }

        /** A whole backward, or the input half of a split one (what its weight half frees is noted). */
        private void backward(Action a) {
            int s = a.stage();
            int chunk = schedule.chunkOf(s);
            boolean whole = a.type() == ActionType.BACKWARD;
            List<Integer> us = chunkUnits.get(chunk);
            long outputGrad = ready.remove(Action.backward(s, a.microBatch()));
            boolean lastBackward = whole && backwards.merge(chunk, 1, Integer::sum) == layout.microBatches();
            boolean dyIsOutputGrad = true;
            long kept = 0;
            for (int i = us.size() - 1; i >= 0; i--) {
                int u = us.get(i);
                beforeUse(u, true);
                if (i > 0) {
                    prefetch(us.get(i - 1));
                }
                Unit unit = units.get(u);
                if (whole) {
                    backward(unit);
                } else {
                    kept += backwardInput(unit);
                }
                afterUse(u, true, lastBackward);
                if (!dyIsOutputGrad) {
                    ledger.free(A, 4 * rows * c);
                }
                dyIsOutputGrad = false;
                long input = i == 0 ? (s == 0 ? 4 * n : 4 * rows * c) : 4 * rows * c; // the layer's kept input
                if (whole) {
                    ledger.free(A, input);
                } else {
                    kept += input;
                }
            }
            if (!whole) {
                pendingWeights.put(Action.backwardWeight(s, a.microBatch()), kept);
            }
            release(outputGrad);
            if (s > 0) {
                ready.put(consumer(s, ActionType.SEND_B, a.microBatch()), -4 * rows * c); // the first layer's dx
            }
        }

        /** The weight half of a split backward: each layer's weight gradients, then what the input half kept goes. */
        private void backwardWeight(Action a) {
            int chunk = schedule.chunkOf(a.stage());
            List<Integer> us = chunkUnits.get(chunk);
            boolean lastBackward = backwards.merge(chunk, 1, Integer::sum) == layout.microBatches();
            long freed = 0;
            for (int i = us.size() - 1; i >= 0; i--) {
                int u = us.get(i);
                beforeUse(u, true);
                if (i > 0) {
                    prefetch(us.get(i - 1));
                }
                freed += backwardWeight(units.get(u));
                afterUse(u, true, lastBackward);
            }
            ledger.free(A, pendingWeights.remove(a) - freed);
        }

        /**
         * A layer's input-gradient half: like {@link #backward(Unit)}, but the weight-gradient GEMMs wait and what
         * they read stays: returns those bytes (freed by the weight half), its dx allocated.
         */
        private long backwardInput(Unit u) {
            long nc = n * c;
            long rc = rows * c;
            switch (u.kind()) {
                case EMBEDDING -> {
                    ledger.alloc(A, 4 * rc); // a copy of dout
                    return 4 * rc;
                }
                case BLOCK -> {
                    if (u.recompute() == Recompute.FULL) {
                        forward(new Unit(Kind.BLOCK, u.numel(), u.computeOnly(), u.padded(), u.deferred(),
                                Recompute.NONE));
                        ledger.free(A, 4 * rc);
                    }
                    long h4 = 4 * nc / tp;
                    ledger.alloc(A, 4 * rc); // a copy of dy, which proj's weight gradient reads
                    long kept = rowBackward(h4, true); // dact
                    ledger.alloc(A, 4 * h4); // dpre, kept for fc's weight gradient
                    columnBackward(h4, true); // db
                    ledger.free(A, 4 * 2 * h4); // dact, pre (act stays)
                    ledger.alloc(A, 4 * rc); // dr, kept for attention proj's weight gradient
                    ledger.free(A, 4 * 2 * rows); // ln2's mean, rstd
                    ledger.free(A, 4 * rc); // db
                    if (u.recompute() == Recompute.SELECTIVE) {
                        ledger.alloc(A, 4 * attention);
                        ledger.bump(A, 4 * nc / tp);
                    }
                    kept += rowBackward(nc / tp, true); // dout
                    ledger.alloc(A, 4 * 3 * nc / tp); // dqkv, kept for qkv's weight gradient
                    scratch = Math.max(scratch, 4 * (5 * nc / tp + attention));
                    columnBackward(3 * nc / tp, true); // da
                    ledger.free(A, 4 * (nc / tp + attention + 3 * nc / tp)); // dout, att, qkv (out stays)
                    ledger.alloc(A, 4 * rc); // dx
                    ledger.free(A, 4 * 2 * rows); // ln1's mean, rstd
                    ledger.free(A, 4 * rc); // da
                    ledger.free(A, 4 * rc); // r (a and b stay)
                    // kept: dy, dr, a, b; act, dpre; out, dqkv (and, sequence parallel, both dY all-gathered)
                    return kept + 4 * (4 * rc + 2 * h4 + nc / tp + 3 * nc / tp);
                }
                case HEAD -> {
                    ledger.alloc(A, 4 * n * vLocal); // a copy of dlogits
                    ledger.alloc(A, 4 * nc); // dh
                    cast(n * vLocal);
                    headNormBackward();
                    ledger.free(A, 4 * nc); // dh (h stays)
                    return 4 * (n * vLocal + nc);
                }
            }
            throw new AssertionError(u.kind());
        }

        /** ln_f's backward from {@code dh [n, C]} (sequence parallel: reduce-scattered to this rank's rows first). */
        private void headNormBackward() {
            long rc = rows * c;
            if (sp) {
                ledger.alloc(A, 4 * rc);
            }
            ledger.alloc(A, 4 * rc); // dx
            ledger.free(A, 4 * 2 * rows); // mean, rstd
            if (sp) {
                ledger.free(A, 4 * rc);
            }
        }

        /**
         * A layer's weight-gradient half: the GEMMs' operand casts (sequence parallel: each column-parallel input
         * all-gathered again, each row-parallel layer's all-gathered dY freed); returns the kept bytes it freed.
         */
        private long backwardWeight(Unit u) {
            long nc = n * c;
            switch (u.kind()) {
                case BLOCK -> {
                    long h4 = 4 * nc / tp;
                    cast(nc, h4);
                    if (sp) {
                        ledger.free(A, 4 * nc);
                    }
                    columnWeight(h4);
                    cast(nc, nc / tp);
                    if (sp) {
                        ledger.free(A, 4 * nc);
                    }
                    columnWeight(3 * nc / tp);
                    return sp ? 2 * 4 * nc : 0;
                }
                case HEAD -> cast(n * vLocal, nc);
                case EMBEDDING -> {
                    if (sp) {
                        ledger.bump(A, 4 * nc); // dout all-gathered
                    }
                }
            }
            return 0;
        }

        /** A layer's backward with its temporaries; returns with its saved tensors freed and its dx allocated. */
        private void backward(Unit u) {
            long nc = n * c;
            long rc = rows * c;
            switch (u.kind()) {
                case EMBEDDING -> { // accumulates into its gradients; returns no dx
                    if (sp) {
                        ledger.bump(A, 4 * nc); // dout all-gathered
                    }
                }
                case BLOCK -> {
                    if (u.recompute() == Recompute.FULL) { // the forward again; its output is dropped
                        forward(new Unit(Kind.BLOCK, u.numel(), u.computeOnly(), u.padded(), u.deferred(),
                                Recompute.NONE));
                        ledger.free(A, 4 * rc);
                    }
                    long h4 = 4 * nc / tp;
                    rowBackward(h4, false); // dact
                    columnBackward(h4, false); // db
                    ledger.free(A, 4 * 3 * h4); // pre, act, dact
                    ledger.alloc(A, 4 * rc); // dr
                    ledger.free(A, 4 * 2 * rows); // ln2's mean, rstd
                    ledger.free(A, 4 * rc); // db
                    if (u.recompute() == Recompute.SELECTIVE) { // the probabilities again, the heads' output dropped
                        ledger.alloc(A, 4 * attention);
                        ledger.bump(A, 4 * nc / tp);
                    }
                    rowBackward(nc / tp, false); // dout
                    ledger.alloc(A, 4 * 3 * nc / tp); // dqkv
                    scratch = Math.max(scratch, 4 * (5 * nc / tp + attention));
                    columnBackward(3 * nc / tp, false); // da
                    ledger.free(A, 4 * (3 * nc / tp + attention + nc / tp + nc / tp + 3 * nc / tp));
                    ledger.alloc(A, 4 * rc); // dx
                    ledger.free(A, 4 * 2 * rows); // ln1's mean, rstd
                    ledger.free(A, 4 * 2 * rc); // da, dr
                    ledger.free(A, 4 * 3 * rc); // a, r, b
                }
                case HEAD -> {
                    ledger.alloc(A, 4 * nc); // dh
                    cast(n * vLocal);
                    cast(n * vLocal, nc);
                    headNormBackward();
                    ledger.free(A, 4 * 2 * nc); // h, dh
                }
            }
        }

        private List<Integer> used(int u) {
            return units.get(u).kind() == Kind.HEAD && headBorrowsEmbedding ? List.of(u, embeddingUnit) : List.of(u);
        }

        private void beforeUse(int u, boolean backward) {
            for (int v : used(u)) {
                if (zero == ZeroStage.THREE && gathered.add(v)) {
                    ledger.alloc(P, pb * units.get(v).padded());
                }
                if (backward && fp32 && shardedGrads) {
                    materializeGrads(v);
                    if (ownGradsLeft[v]) {
                        ownGradsLeft[v] = false;
                        ledger.free(G, 4 * units.get(v).numel());
                    }
                }
            }
        }

        private void prefetch(int u) {
            if (zero == ZeroStage.THREE) {
                for (int v : used(u)) {
                    if (gathered.add(v)) {
                        ledger.alloc(P, pb * units.get(v).padded());
                    }
                }
            }
        }

        private void afterUse(int u, boolean backward, boolean lastBackward) {
            if (backward && lastBackward && !units.get(u).deferred()) {
                reduce(u);
            }
            if (zero == ZeroStage.THREE) {
                for (int v : used(u)) {
                    if (gathered.remove(v)) {
                        ledger.free(P, pb * units.get(v).padded());
                    }
                }
            }
        }

        private void materializeGrads(int u) {
            if (shardedGrads && gradsMaterialized.add(u)) {
                ledger.alloc(G, pb * units.get(u).padded());
            }
        }

        /** ShardedParameters.reduce, then ZeroOptimizer.reduceGradients: the previous unit's full gradients go. */
        private void reduce(int u) {
            if (!fp32) {
                materializeGrads(u);
            }
            if (inFlight != null && shardedGrads) {
                ledger.free(G, pb * units.get(inFlight).padded());
                gradsMaterialized.remove(inFlight);
            }
            inFlight = u;
        }
    }
}
