package com.example.gatun;

import dev.gatun.collectives.CommOptions;
import dev.gatun.memory.DType;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.pipeline.StagePartition;
import dev.gatun.pipeline.StagePartitioner;
import dev.gatun.pipeline.TensorSpec;
import dev.gatun.tp.ColumnParallelLinear;
import dev.gatun.tp.ParallelMlp;
import dev.gatun.tp.Parameter;
import dev.gatun.tp.VocabParallelCrossEntropy;
import dev.gatun.train.Batch;
import dev.gatun.train.DataSource;
import dev.gatun.train.HostArray;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.Layer;
import dev.gatun.train.LayerContext;
import dev.gatun.train.Model;
import dev.gatun.train.ModelLoss;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * A model that is not a GPT, trained by Gatun's engine in any dp x tp x pp x ZeRO layout: a deep residual MLP
 * classifier, {@code logits = W_out · (x_L)}, {@code x_{i+1} = x_i + MLP_i(x_i)}, {@code x_0 = W_in · features}, on
 * synthetic data whose label is the argmax of a fixed random linear map of the features. Its layers are this file's
 * own classes, built from Gatun's Megatron layers (column/row-parallel linears), and its loss is the vocabulary-
 * parallel cross-entropy over the classes.
 */
public final class DeepMlp implements Model {
    private final int features;
    private final int hidden;
    private final int blocks;
    private final int classes;

    public DeepMlp(int features, int hidden, int blocks, int classes) {
        this.features = features;
        this.hidden = hidden;
        this.blocks = blocks;
        this.classes = classes;
    }

    @Override
    public String id() {
        return "DeepMlp[features=" + features + ", hidden=" + hidden + ", blocks=" + blocks + ", classes=" + classes
                + "]";
    }

    @Override
    public void validate(ParallelLayout layout) {
        if (hidden % layout.tp() != 0 || classes % layout.tp() != 0) {
            throw new IllegalArgumentException("--tp " + layout.tp() + " must divide the width " + hidden
                    + " and the classes " + classes);
        }
        if (layout.stages() > blocks) {
            throw new IllegalArgumentException(layout.stages() + " pipeline stages but " + blocks + " blocks");
        }
    }

    @Override
    public List<Layer> buildStage(int stage, int stages, LayerContext ctx) {
        double[] costs = new double[blocks];
        Arrays.fill(costs, 1);
        StagePartition partition = StagePartitioner.balance(costs, stages);
        List<Layer> layers = new ArrayList<>();
        if (stage == 0) {
            layers.add(new Linear("input", features, hidden, true, ctx));
        }
        for (int i = 0; i < partition.layersPerStage().get(stage); i++) {
            layers.add(new ResidualMlp("block" + (partition.firstLayer(stage) + i), hidden, ctx));
        }
        if (stage == stages - 1) {
            layers.add(new Linear("head", hidden, classes, false, ctx));
        }
        return layers;
    }

    @Override
    public TensorSpec stageInput(int stage, int examples, ParallelLayout layout) {
        return new TensorSpec(DType.FP32, Shape.of(examples, stage == 0 ? features : hidden));
    }

    @Override
    public TensorSpec stageOutput(int stage, int examples, ParallelLayout layout) {
        return new TensorSpec(DType.FP32, Shape.of(examples, stage == layout.stages() - 1 ? classes / layout.tp()
                : hidden));
    }

    @Override
    public ModelLoss loss(LayerContext ctx) {
        var ce = new VocabParallelCrossEntropy(classes, ctx.tp().group(), ctx.backend(), ctx.allocator());
        return (logits, labels, gradScale) -> {
            long n = labels.numel();
            var stream = ctx.backend().stream();
            Tensor dlogits = Tensor.allocate(ctx.allocator(), DType.FP32, logits.shape(),
                    dev.gatun.memory.MemoryCategory.ACTIVATIONS, "dlogits", stream);
            try (Tensor losses = Tensor.allocate(ctx.allocator(), DType.FP32, Shape.of(n),
                    dev.gatun.memory.MemoryCategory.ACTIVATIONS, "losses", stream)) {
                ce.forwardBackward(logits, labels, (float) (gradScale / n), losses, dlogits);
                double sum = 0;
                for (float l : losses.toFloatArray(stream)) {
                    sum += l;
                }
                return new ModelLoss.Result(sum / n, dlogits);
            }
        };
    }

    /** {@code y = x·Wᵀ + b}, column-parallel: gathered to the full width, or split (the head's logits). */
    static final class Linear implements Layer {
        private final String name;
        private final ColumnParallelLinear linear;
        private final boolean first;

        Linear(String name, int in, int out, boolean first, LayerContext ctx) {
            this.name = name;
            this.first = first;
            this.linear = new ColumnParallelLinear(in, out, ctx.tp(), ctx.backend(), ctx.allocator(), name,
                    ctx.seed(), first);
        }

        public String name() {
            return name;
        }

        public List<Parameter> parameters() {
            return List.of(linear.weight(), linear.bias());
        }

        public Set<String> tpReplicated() {
            return Set.of();
        }

        public Set<String> computeOnly() {
            return Set.of(linear.weight().name());
        }

        public Tensor forward(int microBatch, Tensor x) {
            return linear.forward(microBatch, x);
        }

        public Tensor backward(int microBatch, Tensor dy) {
            Tensor dx = linear.backward(microBatch, dy);
            if (first) { // the features need no gradient
                dx.close();
                return null;
            }
            return dx;
        }

        public void close() {
            linear.close();
        }
    }

    /** {@code y = x + W₂·gelu(W₁·x)}: Megatron's MLP (column- then row-parallel) with a residual connection. */
    static final class ResidualMlp implements Layer {
        private final String name;
        private final ParallelMlp mlp;
        private final LayerContext ctx;

        ResidualMlp(String name, int hidden, LayerContext ctx) {
            this.name = name;
            this.ctx = ctx;
            this.mlp = new ParallelMlp(hidden, ctx.tp(), ctx.backend(), ctx.allocator(), name, ctx.seed());
        }

        public String name() {
            return name;
        }

        public List<Parameter> parameters() {
            return List.of(mlp.fc().weight(), mlp.fc().bias(), mlp.proj().weight(), mlp.proj().bias());
        }

        public Set<String> tpReplicated() {
            return Set.of(mlp.proj().bias().name());
        }

        public Set<String> computeOnly() {
            return Set.of(mlp.fc().weight().name(), mlp.proj().weight().name());
        }

        public Tensor forward(int microBatch, Tensor x) {
            Tensor y = mlp.forward(microBatch, x);
            ctx.backend().add(x, y, y);
            return y;
        }

        public Tensor backward(int microBatch, Tensor dy) {
            Tensor dx = mlp.backward(microBatch, dy);
            ctx.backend().add(dy, dx, dx);
            return dx;
        }

        public void close() {
            mlp.close();
        }
    }

    /** Synthetic data: features from N(0, 1), labels the argmax of a fixed random map; step s's batch seeded by s. */
    public DataSource data(int batch, long seed) {
        float[] map = new float[features * classes];
        Random r = new Random(seed);
        for (int i = 0; i < map.length; i++) {
            map[i] = (float) r.nextGaussian();
        }
        return step -> {
            Random rs = new Random(seed * 31 + step);
            float[] x = new float[batch * features];
            int[] labels = new int[batch];
            for (int b = 0; b < batch; b++) {
                for (int f = 0; f < features; f++) {
                    x[b * features + f] = (float) rs.nextGaussian();
                }
                int best = 0;
                double bestScore = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < classes; c++) {
                    double score = 0;
                    for (int f = 0; f < features; f++) {
                        score += map[f * classes + c] * x[b * features + f];
                    }
                    if (score > bestScore) {
                        bestScore = score;
                        best = c;
                    }
                }
                labels[b] = best;
            }
            return new Batch(HostArray.ofFloats(x, batch, features), HostArray.ofInts(labels, batch));
        };
    }

    /** Trains a 16 -> 64 x 4 blocks -> 8 classifier for {@code steps} steps in {@code layout}; the step losses. */
    public static double[] train(ParallelLayout layout, int steps) {
        var model = new DeepMlp(16, 64, 4, 8);
        int batch = 32;
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(3e-3, 3e-4, 2, steps), 1f, 0f,
                7, batch);
        return new Training(model, layout, options, CommOptions.DEFAULT).run(model.data(batch, 7), steps, m -> { })
                .steps().stream().mapToDouble(StepMetrics::loss).toArray();
    }

    public static void main(String[] args) {
        var layout = new ParallelLayout(2, 2, 2, ZeroStage.ONE, ScheduleKind.ONE_F_ONE_B, 2, 1);
        double[] losses = train(layout, 30);
        System.out.printf("DeepMlp in %s: loss %.4f -> %.4f over %d steps%n", layout, losses[0],
                losses[losses.length - 1], losses.length);
    }
}
