package dev.gatun.zero;

import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.collectives.Work;
import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.MemoryReport;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;

import java.util.List;
import java.util.Objects;

/**
 * Sharded AdamW over a data-parallel group (ZeRO). One instance per rank; every rank calls the same methods in the
 * same order. A training step, unit by unit ({@link FlatLayout.Unit}, e.g. a layer):
 * <pre>
 *   forward, for each unit u:   gatherParameters(u); compute; releaseParameters(u)
 *   backward, for each unit u (reverse):
 *       gatherParameters(u); accumulate (+=) into gradients(u).view(name), the loss gradient times lossScale();
 *       reduceGradients(u); releaseParameters(u)
 *   step()
 * </pre>
 * {@code gatherParameters}/{@code releaseParameters} are no-ops except in ZeRO-3 (all-gather the unit's shards into
 * a freshly allocated buffer / free it); there {@code prefetchParameters(next)} after {@code gatherParameters(u)}
 * starts the next unit's gather asynchronously, so that it overlaps unit u's computation. {@code reduceGradients(u)} may be left to {@code step()}, which reduces every
 * unit not yet reduced; calling it as each unit's backward ends is what keeps ZeRO-2/3 from holding the full
 * gradients of more than the units in flight, and overlaps the reduction with the rest of the backward: it starts
 * the unit's collective asynchronously ({@link Communicator#submit}) and returns; the reduction is waited for
 * ({@link Work#waitOnStream()}: on NCCL a stream wait, not a host one) and under ZeRO-2/3 the unit's full gradient
 * buffer freed when the next unit's reduction starts and in {@code step()}. So one reduction is in flight at a time,
 * and ZeRO-2/3 hold the full gradients of at most two units. (A ZeRO-3 gather in between needs no wait: calls on one
 * communicator run in the order they were made.) With rank r owning shard S_r of each unit (the whole unit
 * for NONE):
 * <ol>
 *   <li>reduce: NONE all-reduce(AVG) of the unit's gradients; ONE reduce-scatter(AVG) in place into the unit
 *       buffer's slice S_r (the full buffer persists); TWO/THREE reduce-scatter(AVG) into the persistent gradient
 *       shard, after which the unit's full gradient buffer is freed;</li>
 *   <li>unscale by {@code 1/lossScale} into fp32 (the master dtype), check for NaN/Inf, all-reduce(MAX) the flag over
 *       dp and the clipping's tp and pp groups: on an overflow on any rank of the model every rank skips the update
 *       (the loss scaler shrinks);</li>
 *   <li>global norm {@code ‖g‖ = √(all-reduce SUM over dp (and tp) ranks of Σ_{S_r} g²)} (NONE: each rank sums its
 *       own slice of the replicated gradients, so nothing is counted twice; see {@link Clipping} for tp), and
 *       clipping by {@code maxNorm/(‖g‖ + 1e-6)} when above {@code maxNorm};</li>
 *   <li>AdamW ({@link Backend#adamW}) on the fp32 weights of S_r (the master copy under mixed precision, else the
 *       parameters), cast into the parameter dtype, all-gather of each unit's shards in place (ONE, TWO; THREE keeps
 *       the shard).</li>
 * </ol>
 * Communication per step, in parameter-dtype elements over all units (padded Ψ): NONE an all-reduce of Ψ; ONE and
 * TWO a reduce-scatter and an all-gather of Ψ; THREE a reduce-scatter and the caller's two all-gathers (forward,
 * backward); and always two scalar all-reduces (int32 overflow flag, fp32 squared norm).
 */
public final class ZeroOptimizer implements AutoCloseable {
    /** What a step did: whether the update was applied, the global gradient norm before clipping (NaN if skipped). */
    public record StepResult(boolean applied, float gradNorm, float lossScale) {
    }

    private final ZeroStage stage;
    private final PrecisionPolicy policy;
    private final Communicator dp;
    private final Backend backend;
    private final TensorAllocator allocator;
    private final FlatBuffer parameters;
    private final FlatBuffer gradients;
    private AdamWConfig adamW;
    private final Clipping clipping;
    private final DynamicLossScaler scaler;
    private final FlatLayout layout;
    /** Per unit: the owned range within the unit, and where it starts in this rank's shard tensors. */
    private final Shard[] owned;
    private final long[] local;
    private final boolean[] reduced;
    private final Tensor gradShard;
    private final Tensor paramShard;
    private final Tensor master;
    private final Tensor m;
    private final Tensor v;
    private final Tensor gradFp32;
    private final Tensor flag;
    private final Tensor normSquared;
    private long t;
    /** ZeRO-3: the units whose gather {@link #prefetchParameters} started and nobody has waited for yet. */
    private final java.util.Map<Integer, Work> prefetched = new java.util.HashMap<>();
    /** The unit whose gradient reduction is in flight, and its handle; -1 and null when none is. */
    private int inFlightUnit = -1;
    private Work inFlight;

    /**
     * @param parameters  the full parameters, initialised, in a layout padded for {@code dp.size()} ranks; ZeRO-3
     *                    keeps only this rank's shards and releases them
     * @param clipping    gradient clipping by global norm ({@link Clipping#NONE}: norm only)
     * @param scaler      required when {@code policy.lossScaling()}, else {@code null}
     */
    public ZeroOptimizer(ZeroStage stage, PrecisionPolicy policy, Communicator dp, Backend backend,
                         TensorAllocator allocator, FlatBuffer parameters, AdamWConfig adamW, Clipping clipping,
                         DynamicLossScaler scaler) {
        this(stage, policy, dp, backend, allocator, parameters, adamW, clipping, scaler, null);
    }

    /**
     * As above, with the fp32 master weights (mixed precision) copied from {@code masterSource}, the caller's fp32
     * values of the parameters, instead of cast from the bf16/fp16 {@code parameters}; null casts.
     */
    public ZeroOptimizer(ZeroStage stage, PrecisionPolicy policy, Communicator dp, Backend backend,
                         TensorAllocator allocator, FlatBuffer parameters, AdamWConfig adamW, Clipping clipping,
                         DynamicLossScaler scaler, MasterSource masterSource) {
        this.stage = Objects.requireNonNull(stage, "stage must not be null");
        this.policy = Objects.requireNonNull(policy, "policy must not be null");
        this.dp = Objects.requireNonNull(dp, "dp communicator must not be null");
        this.backend = Objects.requireNonNull(backend, "backend must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        this.parameters = Objects.requireNonNull(parameters, "parameters must not be null");
        this.adamW = Objects.requireNonNull(adamW, "adamW must not be null");
        this.clipping = Objects.requireNonNull(clipping, "clipping must not be null (Clipping.NONE for none)");
        if (policy.lossScaling() != (scaler != null)) {
            throw new IllegalArgumentException("policy " + policy.name() + (policy.lossScaling()
                    ? " scales the loss: pass a DynamicLossScaler" : " does not scale the loss: pass scaler=null"));
        }
        this.scaler = scaler;
        if (parameters.dtype() != policy.paramDtype()) {
            throw new IllegalArgumentException("parameters are " + parameters.dtype().shortName() + " but policy "
                    + policy.name() + " wants " + policy.paramDtype().shortName());
        }
        this.layout = parameters.layout();
        if (layout.ranks() != dp.size()) {
            throw new IllegalArgumentException("layout is padded for " + layout.ranks() + " ranks but the dp group has "
                    + dp.size() + ": build the FlatLayout with ranks=" + dp.size());
        }
        for (String name : clipping.tpReplicated()) {
            layout.entry(name); // throws naming the unknown parameter
        }
        for (String name : clipping.ppDuplicates()) {
            layout.entry(name);
        }
        int units = layout.units().size();
        this.owned = new Shard[units];
        this.local = new long[units];
        this.reduced = new boolean[units];
        long shardNumel = 0;
        for (int u = 0; u < units; u++) {
            owned[u] = stage == ZeroStage.NONE ? new Shard(0, layout.units().get(u).paddedNumel())
                    : layout.shard(u, dp.rank());
            local[u] = shardNumel;
            shardNumel += owned[u].size();
        }
        DType pdt = policy.paramDtype();
        boolean gradsSharded = stage == ZeroStage.TWO || stage == ZeroStage.THREE;
        this.gradients = new FlatBuffer(layout, pdt, MemoryCategory.GRADIENTS, "zero.grads", allocator,
                backend.stream());
        if (gradsSharded) {
            gradients.release();
        }
        this.gradShard = gradsSharded ? shardTensor(pdt, shardNumel, MemoryCategory.GRADIENTS, "zero.grad_shard")
                : null;
        if (stage == ZeroStage.THREE) {
            paramShard = shardTensor(pdt, shardNumel, MemoryCategory.PARAMETERS, "zero.param_shard");
            for (int u = 0; u < units; u++) {
                ownedParameters(u).copyFrom(parameters.view(u, owned[u]), backend.stream());
            }
            parameters.release();
        } else {
            paramShard = null;
        }
        if (policy.fp32Master()) {
            master = shardTensor(DType.FP32, shardNumel, MemoryCategory.OPTIMIZER_STATE, "zero.master");
            for (int u = 0; u < units; u++) {
                if (masterSource != null) {
                    masterSource.copy(u, owned[u].offset(), local(master, u));
                } else {
                    backend.cast(ownedParameters(u), local(master, u));
                }
            }
            gradFp32 = shardTensor(DType.FP32, shardNumel, MemoryCategory.WORKSPACE, "zero.grad_fp32");
        } else {
            master = null;
            gradFp32 = null;
        }
        m = shardTensor(DType.FP32, shardNumel, MemoryCategory.OPTIMIZER_STATE, "zero.adam_m");
        v = shardTensor(DType.FP32, shardNumel, MemoryCategory.OPTIMIZER_STATE, "zero.adam_v");
        flag = shardTensor(DType.INT32, 1, MemoryCategory.WORKSPACE, "zero.overflow");
        normSquared = shardTensor(DType.FP32, 1, MemoryCategory.WORKSPACE, "zero.norm2");
    }

    private Tensor shardTensor(DType dtype, long numel, MemoryCategory category, String name) {
        return Tensor.zeros(allocator, dtype, Shape.of(numel), category, name, backend.stream());
    }

    /** Unit {@code u}'s piece of one of this rank's shard tensors. */
    private Tensor local(Tensor shardTensor, int u) {
        return shardTensor.flat(local[u], owned[u].size());
    }

    /** This rank's parameter elements of unit {@code u}, in the parameter dtype. */
    private Tensor ownedParameters(int u) {
        return paramShard != null ? local(paramShard, u) : parameters.view(u, owned[u]);
    }

    public ZeroStage stage() {
        return stage;
    }

    public PrecisionPolicy policy() {
        return policy;
    }

    public FlatLayout layout() {
        return layout;
    }

    /** The range of unit {@code u} this rank updates (the whole unit for NONE). */
    public Shard ownedShard(int u) {
        return owned[u];
    }

    /** The AdamW hyper-parameters the next step uses. */
    public AdamWConfig adamW() {
        return adamW;
    }

    /** Sets the learning rate of the next steps (a schedule calls this before each {@link #step()}). */
    public void setLearningRate(float learningRate) {
        this.adamW = new AdamWConfig(learningRate, adamW.beta1(), adamW.beta2(), adamW.eps(), adamW.weightDecay());
    }

    /** AdamW steps applied so far (skipped steps do not count). */
    public long steps() {
        return t;
    }

    /** The factor to multiply the loss gradient by this step (1 without loss scaling). */
    public float lossScale() {
        return scaler == null ? 1f : scaler.scale();
    }

    /** The gradient buffers with every unit materialized (ZeRO-2/3 allocate them here, zeroed). */
    public FlatBuffer gradients() {
        for (int u = 0; u < reduced.length; u++) {
            gradients(u);
        }
        return gradients;
    }

    /** The gradient buffers with unit {@code u} materialized, to accumulate its gradients into. */
    public FlatBuffer gradients(int u) {
        if (reduced[u]) {
            throw new IllegalStateException("unit '" + layout.units().get(u).name()
                    + "' was already reduced this step: accumulate all its gradients before reduceGradients");
        }
        gradients.materialize(u);
        return gradients;
    }

    /** ZeRO-3: all-gathers every unit's parameters; other stages: they are always there. */
    public FlatBuffer gatherParameters() {
        for (int u = 0; u < owned.length; u++) {
            gatherParameters(u);
        }
        return parameters;
    }

    /**
     * ZeRO-3: all-gathers unit {@code u}'s parameters into a fresh buffer, or finishes the gather that
     * {@link #prefetchParameters} started; other stages: no-op.
     */
    public FlatBuffer gatherParameters(int u) {
        if (stage == ZeroStage.THREE) {
            Work started = prefetched.remove(u);
            if (started != null) {
                started.waitOnStream();
            } else if (!parameters.isMaterialized(u)) {
                parameters.materialize(u);
                dp.allGather(local(paramShard, u), parameters.unit(u));
            }
        }
        return parameters;
    }

    /**
     * ZeRO-3: starts all-gathering unit {@code u}'s parameters asynchronously (unless they are gathered or on their
     * way), so that the gather overlaps the computation before {@link #gatherParameters(int)}, which then only waits
     * for it; other stages: no-op. Every rank must prefetch the same units in the same order. A prefetched unit holds
     * its full parameters until it is gathered and released (or the step ends).
     */
    public void prefetchParameters(int u) {
        if (stage == ZeroStage.THREE && !parameters.isMaterialized(u)) {
            parameters.materialize(u);
            prefetched.put(u, dp.allGatherAsync(local(paramShard, u), parameters.unit(u)));
        }
    }

    /** ZeRO-3: frees every gathered unit; other stages: no-op. */
    public void releaseParameters() {
        for (int u = 0; u < owned.length; u++) {
            releaseParameters(u);
        }
    }

    /**
     * ZeRO-3: frees unit {@code u}'s gathered parameters (after its gather, if one is on its way); other stages:
     * no-op.
     */
    public void releaseParameters(int u) {
        if (stage == ZeroStage.THREE) {
            Work started = prefetched.remove(u);
            if (started != null) {
                started.waitOnStream();
            }
            parameters.release(u);
        }
    }

    /**
     * Starts the reduction of unit {@code u}'s gradients across the dp group (asynchronously, so that it overlaps the
     * rest of the backward) after waiting for the previous unit's (ZeRO-2/3: and freeing that unit's full gradient
     * buffer); {@link #step()} reduces the units not reduced yet and waits for the last.
     */
    public void reduceGradients(int u) {
        if (reduced[u]) {
            throw new IllegalStateException("unit '" + layout.units().get(u).name() + "' is already reduced");
        }
        if (!gradients.isMaterialized(u)) {
            throw new IllegalStateException("unit '" + layout.units().get(u).name()
                    + "' has no gradients: accumulate into gradients(" + u + ") first");
        }
        awaitReduction();
        Tensor full = gradients.unit(u);
        inFlight = switch (stage) {
            case NONE -> dp.allReduceAsync(full, full, ReduceOp.AVG);
            case ONE -> dp.reduceScatterAsync(full, full.flat(owned[u].offset(), owned[u].size()), ReduceOp.AVG);
            case TWO, THREE -> dp.reduceScatterAsync(full, local(gradShard, u), ReduceOp.AVG);
        };
        inFlightUnit = u;
        reduced[u] = true;
    }

    /**
     * Orders this rank's stream after the reduction in flight, if any (blocking the host only where calls complete on
     * it: {@link Work#waitOnStream()}); under ZeRO-2/3 then frees its unit's full gradients, a free that a
     * stream-ordered allocator holds back until the collective is done.
     */
    private void awaitReduction() {
        if (inFlight == null) {
            return;
        }
        Work w = inFlight;
        int u = inFlightUnit;
        inFlight = null;
        inFlightUnit = -1;
        w.waitOnStream();
        if (stage == ZeroStage.TWO || stage == ZeroStage.THREE) {
            gradients.release(u);
        }
    }

    /** Unit {@code u}'s reduced gradients over this rank's range, in the parameter dtype. */
    private Tensor reducedGradients(int u) {
        return switch (stage) {
            case NONE, ONE -> gradients.view(u, owned[u]);
            case TWO, THREE -> local(gradShard, u);
        };
    }

    /**
     * Reduces the units not reduced yet and waits for every reduction, then shows this rank's reduced gradients to
     * {@code reader} (before they are unscaled, checked, clipped or applied). {@link #step()} or {@link #discard()}
     * follows.
     */
    public void readReducedGradients(java.util.function.Consumer<ReducedGradients> reader) {
        for (int u = 0; u < reduced.length; u++) {
            if (!reduced[u]) {
                reduceGradients(u);
            }
        }
        awaitReduction();
        List<Tensor> shards = new java.util.ArrayList<>();
        for (int u = 0; u < owned.length; u++) {
            shards.add(reducedGradients(u));
        }
        reader.accept(new ReducedGradients(layout, List.of(owned), shards, lossScale()));
    }

    /**
     * Ends the step without an update: waits for the reductions in flight, releases prefetched parameters and zeroes
     * the gradients, leaving the parameters, the optimizer state, the step count and the loss scale as they were.
     */
    public void discard() {
        awaitReduction();
        for (int u : List.copyOf(prefetched.keySet())) {
            releaseParameters(u);
        }
        for (int u = 0; u < reduced.length; u++) {
            if (gradients.isMaterialized(u)) {
                gradients.unit(u).fill(0, backend.stream());
            }
            reduced[u] = false;
        }
    }

    /** Reduces what is left, unscales and checks, clips, updates and redistributes the parameters. */
    public StepResult step() {
        for (int u = 0; u < reduced.length; u++) {
            if (!reduced[u]) {
                reduceGradients(u);
            }
        }
        awaitReduction();
        for (int u : java.util.List.copyOf(prefetched.keySet())) { // gathered for a use that did not come
            releaseParameters(u);
        }
        float scale = lossScale();
        Tensor[] g = new Tensor[owned.length];
        flag.fill(0, backend.stream());
        for (int u = 0; u < g.length; u++) {
            g[u] = reducedGradients(u);
            if (gradFp32 != null) {
                backend.cast(g[u], local(gradFp32, u));
                g[u] = local(gradFp32, u);
            }
            backend.scaleAndCheckFinite(g[u], 1f / scale, flag);
        }
        // the decision to skip is the whole model's: ranks of a tp or pp group hold other gradients, and a rank
        // that skipped alone would leave its peers waiting in the norm's all-reduce
        dp.allReduce(flag, ReduceOp.MAX);
        if (clipping.tp() != null) {
            clipping.tp().allReduce(flag, ReduceOp.MAX);
        }
        if (clipping.pp() != null) {
            clipping.pp().allReduce(flag, ReduceOp.MAX);
        }
        if (flag.toIntArray(backend.stream())[0] != 0) {
            finishStep(true);
            return new StepResult(false, Float.NaN, scale);
        }
        float norm = globalNorm(g);
        t++;
        // clipping's factor is applied by the update itself (one pass over the gradients instead of two)
        float clip = norm > clipping.maxNorm() ? clipping.maxNorm() / (norm + 1e-6f) : 1f;
        for (int u = 0; u < g.length; u++) {
            Tensor weights = master != null ? local(master, u) : ownedParameters(u);
            backend.adamW(weights, g[u], clip, local(m, u), local(v, u), adamW.at(t));
            if (master != null) {
                backend.cast(weights, ownedParameters(u));
            }
            if (stage == ZeroStage.ONE || stage == ZeroStage.TWO) {
                dp.allGather(ownedParameters(u), parameters.unit(u));
            }
        }
        finishStep(false);
        return new StepResult(true, norm, scale);
    }

    /**
     * Sums g² over the part of each unit this rank counts: its shard (NONE: its equal slice of the replicated
     * gradients), minus tp-replicated parameters on tp ranks other than 0; then all-reduces over dp (and tp).
     */
    private float globalNorm(Tensor[] g) {
        normSquared.fill(0, backend.stream());
        for (int u = 0; u < g.length; u++) {
            Shard counted = stage == ZeroStage.NONE ? layout.shard(u, dp.rank()) : owned[u];
            long base = owned[u].offset();
            for (FlatLayout.Entry e : layout.units().get(u).entries()) {
                long from = Math.max(e.offset(), counted.offset());
                long to = Math.min(e.offset() + e.numel(), counted.end());
                if (from < to && clipping.counts(e.name())) {
                    backend.sumOfSquares(g[u].flat(from - base, to - from), normSquared);
                }
            }
        }
        dp.allReduce(normSquared, ReduceOp.SUM);
        if (clipping.tp() != null) {
            clipping.tp().allReduce(normSquared, ReduceOp.SUM);
        }
        if (clipping.pp() != null) {
            clipping.pp().allReduce(normSquared, ReduceOp.SUM);
        }
        return (float) Math.sqrt(normSquared.toFloatArray(backend.stream())[0]);
    }

    private void finishStep(boolean overflow) {
        for (int u = 0; u < reduced.length; u++) {
            if (gradients.isMaterialized(u)) {
                gradients.unit(u).fill(0, backend.stream());
            }
            reduced[u] = false;
        }
        if (scaler != null) {
            scaler.update(overflow);
        }
    }

    /**
     * This rank's own optimizer state, as views of its buffers by name: {@code "params.<unit>"} (its shard of each
     * unit's parameters, in the parameter dtype; the whole unit for NONE), {@code "master"} (mixed precision),
     * {@code "adam_m"} and {@code "adam_v"}. What a checkpoint saves, and restores into before
     * {@link #restore}.
     */
    public java.util.Map<String, Tensor> ownedState() {
        java.util.Map<String, Tensor> state = new java.util.LinkedHashMap<>();
        for (int u = 0; u < owned.length; u++) {
            state.put("params." + layout.units().get(u).name(), ownedParameters(u));
        }
        if (master != null) {
            state.put("master", master);
        }
        state.put("adam_m", m);
        state.put("adam_v", v);
        return state;
    }

    /** The dynamic loss scaler, or null without loss scaling. */
    public DynamicLossScaler lossScaler() {
        return scaler;
    }

    /**
     * Completes a restore after the {@link #ownedState()} tensors were overwritten with saved values: sets the step
     * count (and the loss scaler's state) and, for stages ONE and TWO, all-gathers the parameter shards into the full
     * buffers (a collective over dp).
     */
    public void restore(long appliedSteps, float scale, int cleanSteps) {
        if (appliedSteps < 0) {
            throw new IllegalArgumentException("steps must be >= 0, got " + appliedSteps);
        }
        t = appliedSteps;
        if (scaler != null) {
            scaler.restore(scale, cleanSteps);
        }
        if (stage == ZeroStage.ONE || stage == ZeroStage.TWO) {
            for (int u = 0; u < owned.length; u++) {
                dp.allGather(ownedParameters(u), parameters.unit(u));
            }
        }
    }

    /** The allocator's bytes by category (current and peak) on this rank. */
    public MemoryReport memoryReport() {
        return allocator.accountant().report();
    }

    /** The model-state bytes the ZeRO formula gives for this stage, policy, Ψ (unpadded) and dp size. */
    public long formulaModelStateBytes() {
        return stage.modelStateBytes(layout.numel(), dp.size(), policy);
    }

    /** Frees the optimizer's own buffers (gradients, shards, optimizer state); the parameters stay the caller's. */
    @Override
    public void close() {
        try {
            awaitReduction(); // a step abandoned midway: the collectives finish before their buffers go
            for (Work w : prefetched.values()) {
                w.waitOnStream();
            }
            prefetched.clear();
        } finally {
            gradients.close();
            for (Tensor x : new Tensor[]{gradShard, paramShard, master, m, v, gradFp32, flag, normSquared}) {
                if (x != null && x.isLive()) {
                    x.close();
                }
            }
        }
    }

    @Override
    public String toString() {
        return "ZeroOptimizer{stage=" + stage + ", policy=" + policy.name() + ", rank=" + dp.rank() + "/" + dp.size()
                + ", units=" + owned.length + ", t=" + t + (scaler == null ? "" : ", " + scaler) + "}";
    }
}
