package dev.gatun.train;

import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.tp.Parameter;
import dev.gatun.zero.AdamWConfig;
import dev.gatun.zero.Clipping;
import dev.gatun.zero.DynamicLossScaler;
import dev.gatun.zero.FlatBuffer;
import dev.gatun.zero.FlatLayout;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroOptimizer;
import dev.gatun.zero.ZeroStage;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A rank's model parameters placed in ZeRO flat buffers (DESIGN property 11), one {@link FlatLayout.Unit} per local
 * layer, and the {@link LayerHooks} that keep the layers' {@link Parameter}s pointing at them:
 * <ul>
 *   <li>fp32 policy: each parameter's value and gradient are {@linkplain Parameter#bind bound} to views of the
 *       optimizer's flat buffers, so the layers read and accumulate in place; under ZeRO-3 the value is rebound after
 *       every gather and the unit released after every use, under ZeRO-2/3 the gradient is rebound when the unit's
 *       gradient buffer is materialized.</li>
 *   <li>bf16/fp16 policies: the flat buffers hold the parameters and gradients in that dtype (what is communicated).
 *       The linear layers' GEMMs read the weights straight from the flat buffer (each parameter's
 *       {@linkplain Parameter#bindCompute compute view}, rebound after every ZeRO-3 gather) and cast their fp32
 *       activations to that dtype ({@link dev.gatun.tp.MixedGemm}: bf16/fp16 GEMMs with fp32 accumulation, on the
 *       tensor cores of a GPU), so those weights ({@link Layer#computeOnly()}) keep no fp32 copy; the other
 *       kernels (LayerNorm, biases, embedding lookup) read fp32 copies, refreshed by a cast after every optimizer
 *       step (and ZeRO-3 gather). The optimizer's fp32 master starts from the layers' fp32 values (initialised or
 *       given), not from their bf16/fp16 rounding. Gradients accumulate in fp32 and are cast into the flat buffer
 *       after the step's last backward. Beyond the ZeRO formula's model states: 4 bytes per parameter of fp32 gradients, and 4 more
 *       for the parameters that are not GEMM weights (embeddings, LayerNorms, biases).</li>
 * </ul>
 * A layer's gradients are reduced over dp right after its last backward of the step, except for parameters that
 * another pipeline stage also holds ({@link Layer#tiedCopies()}, e.g. a tied word embedding): those are first summed
 * over the {@code embeddingGroup} in {@link #finishBackward()}, once the pipeline has drained.
 */
final class ShardedParameters implements LayerHooks, AutoCloseable {
    private final Backend backend;
    private final ZeroOptimizer optimizer;
    private final FlatBuffer parameters;
    private final boolean fp32;
    private final boolean zero3;
    private final Map<Layer, Integer> unitOf = new IdentityHashMap<>();
    private final Map<Parameter, Integer> ownerUnit = new IdentityHashMap<>();
    private final List<List<Parameter>> unitParameters = new ArrayList<>();
    /** Mixed precision: the parameters that keep no fp32 copy (only GEMMs read them). */
    private final Set<Parameter> computeOnly = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    private final boolean[] stale;
    private final boolean[] deferred;
    private final List<Parameter> tiedCopies;
    private final Communicator embeddingGroup;

    /**
     * @param layers          this rank's layers, in the order of its stages
     * @param tiedCopies      parameters (the tied word embedding) that another stage holds too, summed over
     *                        {@code embeddingGroup} before the dp reduction; empty without
     * @param embeddingGroup  the first and last pipeline stage's ranks, or null
     */
    public ShardedParameters(List<Layer> layers, ZeroStage stage, PrecisionPolicy policy, Communicator dp,
                             Backend backend, TensorAllocator allocator, AdamWConfig adamW, Clipping clipping,
                             DynamicLossScaler scaler, List<Parameter> tiedCopies, Communicator embeddingGroup) {
        this.backend = backend;
        this.fp32 = policy.paramDtype() == DType.FP32;
        this.zero3 = stage == ZeroStage.THREE;
        this.tiedCopies = List.copyOf(tiedCopies);
        this.embeddingGroup = embeddingGroup;
        if (!this.tiedCopies.isEmpty() && embeddingGroup == null) {
            throw new IllegalArgumentException("tied copies " + tiedCopies + " need an embedding group");
        }
        Map<String, Map<String, Shape>> units = new LinkedHashMap<>();
        for (Layer layer : layers) {
            int u = units.size();
            Map<String, Shape> entries = new LinkedHashMap<>();
            for (Parameter p : layer.parameters()) {
                entries.put(p.name(), p.shape());
                ownerUnit.put(p, u);
                if (!fp32 && layer.computeOnly().contains(p.name())) {
                    computeOnly.add(p);
                }
            }
            units.put(layer.name(), entries);
            unitOf.put(layer, u);
            unitParameters.add(layer.parameters());
        }
        FlatLayout layout = FlatLayout.ofUnits(units, dp.size());
        this.stale = new boolean[layers.size()];
        this.deferred = new boolean[layers.size()];
        java.util.Arrays.fill(stale, true);
        for (Parameter p : this.tiedCopies) {
            Integer u = ownerUnit.get(p);
            if (u == null) {
                throw new IllegalArgumentException("tied copy " + p.name() + " is not a parameter of these layers");
            }
            deferred[u] = true;
        }
        this.parameters = new FlatBuffer(layout, policy.paramDtype(), MemoryCategory.PARAMETERS, "model.params",
                allocator, backend.stream());
        ZeroOptimizer opt = null;
        try {
            for (List<Parameter> ps : unitParameters) {
                for (Parameter p : ps) {
                    backend.cast(p.value(), parameters.view(p.name()));
                    if (fp32) {
                        p.bind(parameters.view(p.name()), p.grad());
                    } else {
                        p.bindCompute(parameters.view(p.name()));
                    }
                }
            }
            opt = new ZeroOptimizer(stage, policy, dp, backend, allocator, parameters, adamW, clipping, scaler,
                    fp32 ? null : this::copyMaster);
            for (Parameter p : computeOnly) { // the GEMMs read the flat buffer; the master holds the fp32 values
                p.dropValue();
            }
            if (fp32 && (stage == ZeroStage.NONE || stage == ZeroStage.ONE)) {
                FlatBuffer grads = opt.gradients();
                for (List<Parameter> ps : unitParameters) {
                    for (Parameter p : ps) {
                        p.bind(p.value(), grads.view(p.name()));
                    }
                }
            }
        } catch (RuntimeException | Error e) {
            if (opt != null) {
                opt.close();
            }
            parameters.close();
            throw e;
        }
        this.optimizer = opt;
    }

    /**
     * Mixed precision: unit {@code u}'s fp32 values from the layers' own fp32 parameters (initialised or given), so
     * the master starts from them exactly rather than from their bf16/fp16 rounding.
     */
    private void copyMaster(int u, long from, dev.gatun.memory.Tensor into) {
        long to = from + into.numel();
        FlatLayout layout = parameters.layout();
        for (Parameter p : unitParameters.get(u)) {
            FlatLayout.Entry e = layout.entry(p.name());
            long a = Math.max(from, e.offset());
            long b = Math.min(to, e.offset() + e.numel());
            if (a < b) {
                into.flat(a - from, b - a).copyFrom(p.value().flat(a - e.offset(), b - a), backend.stream());
            }
        }
    }

    /** The optimizer over this rank's flat buffers. */
    public ZeroOptimizer optimizer() {
        return optimizer;
    }

    private List<Integer> unitsUsedBy(Layer layer) {
        List<Integer> us = new ArrayList<>();
        us.add(unitOf(layer));
        for (Parameter p : layer.borrowed()) {
            int u = ownerUnit.get(p);
            if (!us.contains(u)) {
                us.add(u);
            }
        }
        return us;
    }

    private int unitOf(Layer layer) {
        Integer u = unitOf.get(layer);
        if (u == null) {
            throw new IllegalArgumentException("layer " + layer.name() + " is not one of this rank's layers");
        }
        return u;
    }

    @Override
    public void beforeUse(Layer layer, boolean backward) {
        for (int u : unitsUsedBy(layer)) {
            FlatBuffer params = optimizer.gatherParameters(u);
            for (Parameter p : unitParameters.get(u)) {
                if (fp32) {
                    if (zero3) {
                        p.bind(params.view(p.name()), p.grad());
                    }
                } else {
                    if ((stale[u] || zero3) && !computeOnly.contains(p)) {
                        backend.cast(params.view(p.name()), p.value());
                    }
                    if (zero3) {
                        p.bindCompute(params.view(p.name()));
                    }
                }
            }
            stale[u] = false;
            if (backward && fp32 && (zero3 || optimizer.stage() == ZeroStage.TWO)) {
                FlatBuffer grads = optimizer.gradients(u);
                for (Parameter p : unitParameters.get(u)) {
                    p.bind(p.value(), grads.view(p.name()));
                }
            }
        }
    }

    /** ZeRO-3: starts gathering the units {@code next} uses that are not gathered yet; other stages: nothing. */
    @Override
    public void prefetch(Layer next, boolean backward) {
        if (zero3) {
            for (int u : unitsUsedBy(next)) {
                optimizer.prefetchParameters(u);
            }
        }
    }

    @Override
    public void afterUse(Layer layer, boolean backward, boolean lastBackward) {
        if (backward && lastBackward) {
            int u = unitOf(layer);
            if (!deferred[u]) {
                reduce(u);
            }
        }
        for (int u : unitsUsedBy(layer)) {
            optimizer.releaseParameters(u);
        }
    }

    /** Mixed precision: the fp32 gradients into the flat buffer (then zeroed); then the dp reduction. */
    private void reduce(int u) {
        if (!fp32) {
            FlatBuffer grads = optimizer.gradients(u);
            for (Parameter p : unitParameters.get(u)) {
                backend.cast(p.grad(), grads.view(p.name()));
                p.grad().fill(0, backend.stream());
            }
        }
        optimizer.reduceGradients(u);
    }

    /**
     * After the pipeline has run every micro-batch: sums the tied copies' gradients over the embedding group (the
     * first and last stage) and reduces their units over dp.
     */
    public void finishBackward() {
        for (Parameter p : tiedCopies) {
            int u = ownerUnit.get(p);
            if (fp32 && (zero3 || optimizer.stage() == ZeroStage.TWO)) {
                FlatBuffer grads = optimizer.gradients(u);
                p.bind(p.value(), grads.view(p.name()));
            }
            embeddingGroup.allReduce(p.grad(), ReduceOp.SUM);
        }
        for (int u = 0; u < deferred.length; u++) {
            if (deferred[u]) {
                reduce(u);
            }
        }
    }

    /** The optimizer step at {@code learningRate}; marks the layers' fp32 copies stale under mixed precision. */
    public ZeroOptimizer.StepResult step(float learningRate) {
        optimizer.setLearningRate(learningRate);
        ZeroOptimizer.StepResult r = optimizer.step();
        java.util.Arrays.fill(stale, true);
        return r;
    }

    /** The layers' fp32 copies must be refreshed from the flat buffers (after a restore). */
    public void markStale() {
        java.util.Arrays.fill(stale, true);
    }

    /** The full flat parameter buffers (gathered first under ZeRO-3), to read the model's values. */
    public FlatBuffer gatheredParameters() {
        return optimizer.gatherParameters();
    }

    /** Undoes {@link #gatheredParameters()} under ZeRO-3. */
    public void releaseGathered() {
        optimizer.releaseParameters();
    }

    @Override
    public void close() {
        optimizer.close();
        parameters.close();
    }
}
