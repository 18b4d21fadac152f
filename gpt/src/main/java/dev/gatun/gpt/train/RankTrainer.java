package dev.gatun.gpt.train;

import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.MeshGroups;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.gpt.checkpoint.ModelWeights;
import dev.gatun.gpt.data.Batch;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.EmbeddingLayer;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.gpt.model.GptLayer;
import dev.gatun.gpt.model.GptStage;
import dev.gatun.gpt.model.LayerContext;
import dev.gatun.gpt.model.LmHead;
import dev.gatun.gpt.model.ModelPartition;
import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.MemoryReport;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.pipeline.PipelineExecutor;
import dev.gatun.pipeline.PipelineResult;
import dev.gatun.tp.Mappings;
import dev.gatun.tp.Parameter;
import dev.gatun.tp.VocabParallelCrossEntropy;
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
 * One rank of a training run: its layers (its tensor-parallel shard of its pipeline stages), the pipeline executor
 * over its pp group, and ZeRO over its dp group. Every rank of the mesh calls {@link #step} with the same step number
 * and its data-parallel share of the batch. A step: run the pipeline schedule over the micro-batches (each layer's
 * gradients reduced over dp after its last backward), sum the tied embedding's gradients over the first and last
 * stage, clip and apply AdamW at the scheduled learning rate.
 */
public final class RankTrainer implements AutoCloseable {
    /** What a step did on this rank. */
    public record RankStep(long step, OptionalDouble loss, ZeroOptimizer.StepResult update, double learningRate,
                           PipelineResult pipeline) {
    }

    private final GptConfig config;
    private final ParallelLayout layout;
    private final TrainOptions options;
    private final MeshGroups groups;
    private final Backend backend;
    private final TensorAllocator allocator;
    private final List<GptStage> stages = new ArrayList<>();
    private final ShardedParameters parameters;
    private final PipelineExecutor executor;
    private final VocabParallelCrossEntropy crossEntropy;
    private final Communicator embeddingGroup;
    private final boolean holdsFirst;
    private final boolean holdsLast;

    /**
     * Builds this rank's part of the model and its optimizer; a collective over the world (every rank constructs its
     * trainer at the same time).
     */
    public RankTrainer(GptConfig config, ParallelLayout layout, TrainOptions options, MeshGroups groups,
                       Backend backend, TensorAllocator allocator) {
        this.config = Objects.requireNonNull(config, "config must not be null");
        this.layout = Objects.requireNonNull(layout, "layout must not be null");
        this.options = Objects.requireNonNull(options, "options must not be null");
        this.groups = Objects.requireNonNull(groups, "groups must not be null");
        this.backend = Objects.requireNonNull(backend, "backend must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        layout.validate(config, options.batchSequences());
        if (groups.mesh().dp() != layout.dp() || groups.mesh().tp() != layout.tp()
                || groups.mesh().pp() != layout.pp()) {
            throw new IllegalArgumentException("mesh " + groups.mesh() + " does not match the layout " + layout);
        }
        int pp = layout.pp();
        int ppRank = groups.pp().rank();
        this.executor = new PipelineExecutor(layout.schedule().build(pp, layout.microBatches(),
                layout.virtualStages()));
        ModelPartition partition = ModelPartition.of(config, layout.stages());
        var ctx = new LayerContext(backend, allocator, new Mappings(groups.tp(), allocator, backend.stream()),
                options.seed());
        int microBatchSize = options.batchSequences() / (layout.dp() * layout.microBatches());
        boolean tiedAcrossStages = config.tiedHead() && pp > 1;
        Communicator emb = null;
        if (tiedAcrossStages) {
            boolean member = ppRank == 0 || ppRank == pp - 1;
            emb = groups.pp().split(member ? 0 : 1, ppRank, "embedding[dp=" + groups.coordinates().dp() + ",tp="
                    + groups.coordinates().tp() + "]");
            if (!member) {
                emb.close();
                emb = null;
            }
        }
        this.embeddingGroup = emb;
        List<GptLayer> layers = new ArrayList<>();
        List<Parameter> tiedCopies = new ArrayList<>();
        Set<String> tpReplicated = new HashSet<>();
        Set<String> ppDuplicates = new HashSet<>();
        int last = layout.stages() - 1;
        var hooks = new DeferredHooks();
        try {
            for (int chunk = 0; chunk < layout.virtualStages(); chunk++) {
                int s = chunk * pp + ppRank;
                List<GptLayer> ls = partition.buildLayers(s, ctx, null);
                layers.addAll(ls);
                stages.add(new GptStage(s, ls, config, ctx, hooks, microBatchSize, layout.microBatches()));
                for (GptLayer l : ls) {
                    tpReplicated.addAll(l.tpReplicated());
                    if (tiedAcrossStages && l instanceof EmbeddingLayer e) {
                        tiedCopies.add(e.tokenEmbedding());
                    }
                    if (tiedAcrossStages && l instanceof LmHead h) {
                        tiedCopies.add(h.outputWeight());
                        ppDuplicates.add(h.outputWeight().name());
                    }
                }
            }
            if (options.initialWeights() != null) {
                for (GptLayer l : layers) {
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
                    tiedCopies, embeddingGroup);
            hooks.target = parameters;
        } catch (RuntimeException | Error e) {
            stages.forEach(GptStage::close);
            if (embeddingGroup != null) {
                embeddingGroup.close();
            }
            throw e;
        }
        this.crossEntropy = new VocabParallelCrossEntropy(config.vocab(), config.paddedVocab(layout.tp()),
                groups.tp(), backend, allocator);
    }

    /** Forwards to the sharded parameters once they exist (the stages are built before them). */
    private static final class DeferredHooks implements dev.gatun.gpt.model.LayerHooks {
        ShardedParameters target;

        @Override
        public void beforeUse(GptLayer layer, boolean backward) {
            target.beforeUse(layer, backward);
        }

        @Override
        public void afterUse(GptLayer layer, boolean backward, boolean lastBackward) {
            target.afterUse(layer, backward, lastBackward);
        }

        @Override
        public void prefetch(GptLayer next, boolean backward) {
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
    public List<GptStage> stages() {
        return stages;
    }

    /**
     * One training step on this rank's data-parallel share {@code batch} (of {@code batchSequences/dp} sequences).
     * The loss, present on ranks holding the last stage, is averaged over the dp group: the global batch's mean loss.
     */
    public RankStep step(long step, Batch batch) {
        int m = layout.microBatches();
        int expected = options.batchSequences() / layout.dp();
        if (batch.sequences() != expected || batch.seqLen() != config.seqLen()) {
            throw new IllegalArgumentException("rank batch must be " + expected + " sequences of " + config.seqLen()
                    + " tokens, got " + batch.sequences() + " of " + batch.seqLen());
        }
        List<Tensor> inputs = new ArrayList<>();
        List<Tensor> targets = new ArrayList<>();
        try {
            for (int mb = 0; mb < m; mb++) {
                Batch b = TokenDataset.microBatch(batch, mb, m);
                if (holdsFirst) {
                    inputs.add(ints("tokens", b.inputs(), Shape.of(b.sequences(), b.seqLen())));
                }
                if (holdsLast) {
                    targets.add(ints("targets", b.targets(), Shape.of((long) b.sequences() * b.seqLen())));
                }
            }
            var loss = new GptLoss(crossEntropy, allocator, backend.stream(), targets,
                    () -> parameters.optimizer().lossScale());
            PipelineResult result = executor.run(groups.pp(), stages, inputs::get, loss, allocator);
            parameters.finishBackward();
            double lr = options.learningRate().at(step);
            ZeroOptimizer.StepResult update = parameters.step((float) lr);
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

    private Tensor ints(String name, int[] values, Shape shape) {
        Tensor t = Tensor.allocate(allocator, DType.INT32, shape, MemoryCategory.ACTIVATIONS, name, backend.stream());
        t.copyFrom(values, backend.stream());
        return t;
    }

    /**
     * Puts this rank's parameters, as the model computes with them (fp32 values of the parameter dtype), into
     * {@code into} by global index. A collective over the dp group (ZeRO-3 gathers); dp rank 0 writes.
     */
    public void contributeWeights(ModelWeights into) {
        var params = parameters.gatheredParameters();
        try {
            if (groups.dp().rank() == 0) {
                for (GptStage st : stages) {
                    for (GptLayer l : st.layers()) {
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

    private java.util.Map<String, Parameter> parametersByName() {
        java.util.Map<String, Parameter> byName = new java.util.HashMap<>();
        for (GptStage st : stages) {
            for (GptLayer l : st.layers()) {
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
        stages.forEach(GptStage::close);
        if (embeddingGroup != null) {
            embeddingGroup.close();
        }
    }
}
