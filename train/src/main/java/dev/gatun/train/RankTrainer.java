package dev.gatun.train;

import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.MeshGroups;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.MemoryReport;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.pipeline.PipelineExecutor;
import dev.gatun.pipeline.PipelineLoss;
import dev.gatun.pipeline.PipelineResult;
import dev.gatun.tp.Mappings;
import dev.gatun.tp.Parameter;
import dev.gatun.zero.AdamWConfig;
import dev.gatun.zero.Clipping;
import dev.gatun.zero.DynamicLossScaler;
import dev.gatun.zero.ZeroOptimizer;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.OptionalDouble;
import java.util.Set;

/**
 * One rank of a training run of a {@link Model}: its layers (its tensor-parallel shard of its pipeline stages), the
 * pipeline executor over its pp group, and ZeRO over its dp group. Every rank of the mesh calls {@link #step} with
 * the same step number and its data-parallel share of the batch. A step: run the pipeline schedule over the
 * micro-batches (each layer's gradients reduced over dp after its last backward), sum the gradients of weights that
 * several stages hold ({@link Layer#tiedCopies()}) over those stages, clip and apply AdamW at the scheduled learning
 * rate.
 */
public final class RankTrainer implements AutoCloseable {
    /** What a step did on this rank. */
    public record RankStep(long step, OptionalDouble loss, ZeroOptimizer.StepResult update, double learningRate,
                           PipelineResult pipeline) {
    }

    /**
     * What {@link #evaluate} found on this rank.
     *
     * @param loss    the batch's mean loss over the dp group, on ranks that hold the last stage
     * @param outputs when asked for, the last stage's output of each micro-batch on this rank (under tensor
     *                parallelism its shard, e.g. a vocabulary slice of the logits); empty otherwise
     */
    public record Evaluation(OptionalDouble loss, List<HostArray> outputs) {
        public Evaluation {
            outputs = List.copyOf(outputs);
        }
    }

    /** Sees a step's gradients after the backward and the dp reduction, before clipping and the update. */
    @FunctionalInterface
    public interface GradientHook {
        void afterBackward(long step, dev.gatun.zero.ReducedGradients gradients);
    }

    private final Model model;
    private final ParallelLayout layout;
    private final TrainOptions options;
    private final MeshGroups groups;
    private final Backend backend;
    private final TensorAllocator allocator;
    private final List<LayerStage> stages = new ArrayList<>();
    private final ShardedParameters parameters;
    private final PipelineExecutor executor;
    private final ModelLoss loss;
    private final Communicator tiedGroup;
    private final boolean holdsFirst;
    private final boolean holdsLast;
    private final int microBatchSize;
    /** What {@link #alone} made for this trainer and closes with it; null otherwise. */
    private AutoCloseable ownGroups;

    /**
     * A trainer of one rank that needs no communicator from the caller: a world of one, in
     * {@link ParallelLayout#single()}, on the caller's thread.
     */
    public static RankTrainer alone(Model model, TrainOptions options, Backend backend, TensorAllocator allocator) {
        var world = new dev.gatun.collectives.InProcessWorld(1);
        MeshGroups groups = null;
        try {
            groups = ParallelLayout.single().mesh().groups(world.communicator(0));
            var trainer = new RankTrainer(model, ParallelLayout.single(), options, groups, backend, allocator);
            MeshGroups g = groups;
            trainer.ownGroups = () -> {
                g.close();
                world.close();
            };
            return trainer;
        } catch (RuntimeException | Error e) {
            if (groups != null) {
                groups.close();
            }
            world.close();
            throw e;
        }
    }

    /**
     * Builds this rank's part of the model and its optimizer; a collective over the world (every rank constructs its
     * trainer at the same time).
     */
    public RankTrainer(Model model, ParallelLayout layout, TrainOptions options, MeshGroups groups,
                       Backend backend, TensorAllocator allocator) {
        this.model = Objects.requireNonNull(model, "model must not be null");
        this.layout = Objects.requireNonNull(layout, "layout must not be null");
        this.options = Objects.requireNonNull(options, "options must not be null");
        this.groups = Objects.requireNonNull(groups, "groups must not be null");
        this.backend = Objects.requireNonNull(backend, "backend must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        layout.validate(model, options.batchExamples());
        if (groups.mesh().dp() != layout.dp() || groups.mesh().tp() != layout.tp()
                || groups.mesh().pp() != layout.pp()) {
            throw new IllegalArgumentException("mesh " + groups.mesh() + " does not match the layout " + layout);
        }
        int pp = layout.pp();
        int ppRank = groups.pp().rank();
        this.executor = new PipelineExecutor(layout.schedule().build(pp, layout.microBatches(),
                layout.virtualStages()));
        var ctx = new LayerContext(backend, allocator, new Mappings(groups.tp(), allocator, backend.stream()),
                options.seed(), options.recompute(), layout.sequenceParallel());
        this.microBatchSize = options.batchExamples() / (layout.dp() * layout.microBatches());
        List<Layer> layers = new ArrayList<>();
        List<Parameter> tiedCopies = new ArrayList<>();
        Set<String> tpReplicated = new HashSet<>();
        Set<String> ppDuplicates = new HashSet<>();
        int last = layout.stages() - 1;
        var hooks = new DeferredHooks();
        Communicator tied = null;
        ModelLoss builtLoss = null;
        try {
            for (int chunk = 0; chunk < layout.virtualStages(); chunk++) {
                int s = chunk * pp + ppRank;
                List<Layer> ls = model.buildStage(s, layout.stages(), ctx);
                layers.addAll(ls);
                stages.add(new LayerStage(s, ls, model.stageInput(s, microBatchSize, layout),
                        model.stageOutput(s, microBatchSize, layout), ctx, hooks, layout.microBatches()));
                for (Layer l : ls) {
                    tpReplicated.addAll(l.tpReplicated());
                    tiedCopies.addAll(l.tiedCopies());
                    ppDuplicates.addAll(l.tiedDuplicates());
                }
            }
            if (pp > 1) { // the ranks of this pipeline that hold a copy of a tied weight
                boolean member = !tiedCopies.isEmpty();
                tied = groups.pp().split(member ? 0 : 1, ppRank, "tied[dp=" + groups.coordinates().dp() + ",tp="
                        + groups.coordinates().tp() + "]");
                if (!member) {
                    tied.close();
                    tied = null;
                }
            } else if (!tiedCopies.isEmpty()) {
                throw new IllegalStateException("the model gave tied copies " + tiedCopies.stream()
                        .map(Parameter::name).toList() + " in a one-stage pipeline, where one layer should borrow the "
                        + "other's weight instead");
            }
            if (options.initialWeights() != null) {
                for (Layer l : layers) {
                    for (Parameter p : l.parameters()) {
                        float[] init = p.value().toFloatArray(backend.stream());
                        p.value().copyFrom(options.initialWeights().fill(p, init), backend.stream());
                    }
                }
            }
            this.holdsFirst = stages.stream().anyMatch(st -> st.index() == 0);
            this.holdsLast = stages.stream().anyMatch(st -> st.index() == last);
            Clipping clipping = new Clipping(options.maxGradNorm(), layout.tp() > 1 ? groups.tp() : null,
                    layout.tp() > 1 ? tpReplicated : Set.of(), pp > 1 ? groups.pp() : null,
                    pp > 1 ? ppDuplicates : Set.of());
            var adamW = new AdamWConfig((float) options.learningRate().at(0), 0.9f, 0.95f, 1e-8f,
                    options.weightDecay());
            this.parameters = new ShardedParameters(layers, layout.zero(), options.policy(), groups.dp(), backend,
                    allocator, adamW, clipping, options.policy().lossScaling() ? new DynamicLossScaler() : null,
                    tiedCopies, tied);
            hooks.target = parameters;
            builtLoss = holdsLast ? model.loss(ctx) : null;
        } catch (RuntimeException | Error e) {
            stages.forEach(LayerStage::close);
            if (tied != null) {
                tied.close();
            }
            throw e;
        }
        this.tiedGroup = tied;
        this.loss = builtLoss;
    }

    /** Forwards to the sharded parameters once they exist (the stages are built before them). */
    private static final class DeferredHooks implements dev.gatun.train.LayerHooks {
        ShardedParameters target;

        @Override
        public void beforeUse(Layer layer, boolean backward) {
            target.beforeUse(layer, backward);
        }

        @Override
        public void afterUse(Layer layer, boolean backward, boolean lastBackward) {
            target.afterUse(layer, backward, lastBackward);
        }

        @Override
        public void prefetch(Layer next, boolean backward) {
            target.prefetch(next, backward);
        }
    }

    /** Whether this rank computes the loss (it holds the last stage). */
    public boolean holdsLastStage() {
        return holdsLast;
    }

    /** The optimizer of this rank. */
    public ZeroOptimizer optimizer() {
        return parameters.optimizer();
    }

    /** The pipeline executor (its schedule and simulated timeline). */
    public PipelineExecutor executor() {
        return executor;
    }

    /** This rank's stages. */
    public List<LayerStage> stages() {
        return stages;
    }

    /**
     * One training step on this rank's data-parallel share {@code batch} ({@code batchExamples/dp} examples, e.g.
     * {@link Batch#shard}). The loss, present on ranks holding the last stage, is averaged over the dp group: the
     * global batch's mean loss.
     */
    public RankStep step(long step, Batch batch) {
        return step(step, batch, null);
    }

    /**
     * {@link #step(long, Batch)}, showing the gradients to {@code hook} (when not null) after the backward and their
     * reduction over dp, before they are clipped and applied.
     */
    public RankStep step(long step, Batch batch, GradientHook hook) {
        return run(step, batch, hook, false, null);
    }

    /**
     * The loss of {@code batch} (this rank's dp share, as for {@link #step}) with the current parameters, without
     * a step: the parameters, the optimizer state and the step count stay as they were. It runs the backward too
     * (the layers keep what their backward needs until it runs) and discards the gradients; a collective like a
     * step. With {@code keepOutputs}, the last stage's outputs come back too.
     */
    public Evaluation evaluate(Batch batch, boolean keepOutputs) {
        List<HostArray> outputs = new ArrayList<>();
        RankStep r = run(-1, batch, null, true, keepOutputs ? outputs : null);
        return new Evaluation(r.loss(), outputs);
    }

    private RankStep run(long step, Batch batch, GradientHook hook, boolean discard, List<HostArray> outputs) {
        int m = layout.microBatches();
        int expected = options.batchExamples() / layout.dp();
        if (batch.examples() != expected) {
            throw new IllegalArgumentException("rank batch must be " + expected + " examples (the global batch of "
                    + options.batchExamples() + " over dp " + layout.dp() + "), got " + batch.examples());
        }
        List<Tensor> inputs = new ArrayList<>();
        List<Tensor> targets = new ArrayList<>();
        try {
            for (int mb = 0; mb < m; mb++) {
                Batch b = batch.part(mb, m);
                if (holdsFirst) {
                    var spec = model.stageInput(0, microBatchSize, layout);
                    if (b.inputs().dtype() != spec.dtype() || !b.inputs().shape().equals(spec.shape())) {
                        throw new IllegalArgumentException("a micro-batch's inputs must be " + spec + ", got "
                                + b.inputs());
                    }
                    inputs.add(b.inputs().toTensor(allocator, backend.stream(), MemoryCategory.ACTIVATIONS,
                            "inputs"));
                }
                if (holdsLast) {
                    targets.add(b.targets().toTensor(allocator, backend.stream(), MemoryCategory.ACTIVATIONS,
                            "targets"));
                }
            }
            PipelineLoss stageLoss = (mb, output, gradScale) -> {
                if (outputs != null) {
                    outputs.add(output.dtype() == DType.INT32
                            ? HostArray.ofInts(output.toIntArray(backend.stream()), output.shape().dims())
                            : HostArray.ofFloats(output.toFloatArray(backend.stream()), output.shape().dims()));
                }
                var r = loss.evaluate(output, targets.get(mb), gradScale * parameters.optimizer().lossScale());
                return new PipelineLoss.Result(r.loss(), r.outputGrad());
            };
            PipelineResult result = executor.run(groups.pp(), stages, inputs::get, stageLoss, allocator);
            parameters.finishBackward();
            ZeroOptimizer.StepResult update;
            double lr = discard ? Double.NaN : options.learningRate().at(step);
            if (discard) {
                parameters.optimizer().discard();
                update = null;
            } else {
                if (hook != null) {
                    parameters.optimizer().readReducedGradients(g -> hook.afterBackward(step, g));
                }
                update = parameters.step((float) lr);
            }
            OptionalDouble mean = result.meanLoss();
            if (mean.isPresent() && layout.dp() > 1) {
                try (Tensor l = Tensor.allocate(allocator, DType.FP32, Shape.of(1), MemoryCategory.COMMUNICATION,
                        "loss", backend.stream())) {
                    l.copyFrom(new float[]{(float) mean.getAsDouble()}, backend.stream());
                    groups.dp().allReduce(l, ReduceOp.AVG);
                    mean = OptionalDouble.of(l.toFloatArray(backend.stream())[0]);
                }
            }
            return new RankStep(step, mean, update, lr, result);
        } finally {
            inputs.forEach(Tensor::close);
            targets.forEach(Tensor::close);
        }
    }

    /**
     * Puts this rank's parameters, as the model computes with them (fp32 values of the parameter dtype), into
     * {@code into} by global index. A collective over the dp group (ZeRO-3 gathers); dp rank 0 writes.
     */
    public void contributeWeights(ModelWeights into) {
        var params = parameters.gatheredParameters();
        try {
            if (groups.dp().rank() == 0) {
                for (LayerStage st : stages) {
                    for (Layer l : st.layers()) {
                        for (Parameter p : l.parameters()) {
                            into.put(p, params.view(p.name()).toFloatArray(backend.stream()));
                        }
                    }
                }
            }
        } finally {
            parameters.releaseGathered();
        }
    }

    /**
     * Writes what this rank owns (its ZeRO shard of the parameters and of the optimizer state, all as fp32, where each
     * element lies in the full model, and the optimizer's step count and loss-scaler state) into {@code file},
     * atomically ({@link RankStateFile}).
     */
    public void saveState(java.nio.file.Path file, long nextStep) {
        RankStateFile.write(file, parameters.optimizer(), parametersByName(), backend.stream(), nextStep);
    }

    /**
     * Restores what {@link #saveState} wrote, into the same layout; a collective over the dp group (stages 1 and 2
     * all-gather the restored parameter shards).
     *
     * @throws IllegalArgumentException naming the file and tensor when one is missing or of another size
     */
    public void restoreState(java.nio.file.Path file) {
        RankStateFile.readSameLayout(file, parameters.optimizer(), backend.stream());
        parameters.markStale();
    }

    /**
     * Restores from every rank file of a checkpoint saved in another layout (same model and precision): this rank's
     * parameters, master weights and Adam moments are put together by global index. A collective over dp.
     */
    public void restoreResharded(List<java.nio.file.Path> files) {
        RankStateFile.readResharded(files, parameters.optimizer(), parametersByName(), backend.stream());
        parameters.markStale();
    }

    /**
     * The values of parameter {@code name} (its global name, e.g. {@code "h0.mlp.fc.weight"}) on this rank, as the
     * model computes with them (fp32 values of the parameter dtype): this rank's tensor-parallel shard, element
     * {@code i} at {@link Parameter#globalIndex}{@code (i)} of {@link Parameter#globalShape()}
     * ({@link #parameter(String)}). A collective over the dp group under ZeRO-3 (it gathers).
     *
     * @throws IllegalArgumentException when this rank holds no such parameter
     */
    public float[] parameterValues(String name) {
        parameter(name);
        var params = parameters.gatheredParameters();
        try {
            return params.view(name).toFloatArray(backend.stream());
        } finally {
            parameters.releaseGathered();
        }
    }

    /**
     * Parameter {@code name} of this rank (its shard, global shape and index map; its value may be released between
     * uses under ZeRO-3: read it with {@link #parameterValues}).
     *
     * @throws IllegalArgumentException when this rank holds no such parameter, naming those it holds
     */
    public Parameter parameter(String name) {
        Parameter p = parametersByName().get(name);
        if (p == null) {
            throw new IllegalArgumentException("this rank holds no parameter '" + name + "'; it holds "
                    + new java.util.TreeSet<>(parametersByName().keySet()));
        }
        return p;
    }

    private java.util.Map<String, Parameter> parametersByName() {
        java.util.Map<String, Parameter> byName = new java.util.HashMap<>();
        for (LayerStage st : stages) {
            for (Layer l : st.layers()) {
                l.parameters().forEach(p -> byName.put(p.name(), p));
            }
        }
        return byName;
    }

    /** This rank's memory by category (current and peak). */
    public MemoryReport memoryReport() {
        return allocator.accountant().report();
    }

    /** The ZeRO formula's model-state bytes for this rank's parameters. */
    public long formulaModelStateBytes() {
        return parameters.optimizer().formulaModelStateBytes();
    }

    @Override
    public void close() {
        parameters.close();
        stages.forEach(LayerStage::close);
        if (tiedGroup != null) {
            tiedGroup.close();
        }
        if (ownGroups != null) {
            try {
                ownGroups.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing the one-rank world failed: " + e, e);
            }
        }
    }
}
