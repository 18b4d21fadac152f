package com.example.gatun;

import dev.gatun.collectives.CommOptions;
import dev.gatun.memory.AllocationLedger;
import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.MemoryLeakException;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.pipeline.TensorSpec;
import dev.gatun.tp.Parameter;
import dev.gatun.train.Layer;
import dev.gatun.train.LayerContext;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.Model;
import dev.gatun.train.ModelLoss;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.RankTrainer;
import dev.gatun.memory.HostAllocator;
import dev.gatun.ops.cpu.CpuBackend;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Both examples train for a few steps in a parallel layout and equal the one-rank run; their losses fall. */
@Timeout(180)
class ExamplesTest {
    private static void sameAsOneRank(double[] layout, double[] one, String what) {
        assertEquals(one.length, layout.length);
        for (int i = 0; i < one.length; i++) {
            assertEquals(one[i], layout[i], 1e-4 * Math.max(1, Math.abs(one[i])), what + " step " + i);
        }
    }

    @Test
    void theDeepMlpInDp2Tp2Pp2WithZero3EqualsOneRank() {
        double[] one = DeepMlp.train(ParallelLayout.single(), 6);
        double[] three = DeepMlp.train(new ParallelLayout(2, 2, 2, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 2, 1),
                6);
        sameAsOneRank(three, one, "dp2 tp2 pp2 zero3");
        assertTrue(one[5] < one[0], "the loss falls: " + one[0] + " -> " + one[5]);
    }

    @Test
    void layersThatDoNotSplitTheirBackwardRunUnderZeroBubbleAsUnder1F1B() {
        // DeepMlp's layers implement backward only: under zb-h1 the whole backward runs as the input half and the
        // weight half does nothing, so the losses are 1F1B's bit for bit
        double[] oneF = DeepMlp.train(new ParallelLayout(1, 2, 2, ZeroStage.TWO, ScheduleKind.ONE_F_ONE_B, 4, 1), 4);
        double[] zb = DeepMlp.train(new ParallelLayout(1, 2, 2, ZeroStage.TWO, ScheduleKind.ZB_H1, 4, 1), 4);
        for (int i = 0; i < oneF.length; i++) {
            assertEquals(Double.doubleToRawLongBits(oneF[i]), Double.doubleToRawLongBits(zb[i]),
                    "step " + i + ": " + oneF[i] + " vs " + zb[i]);
        }
    }

    @Test
    void theGptOnItsOwnDataInDp2Tp2Zero2EqualsOneRank() {
        double[] one = GptCustomData.train(ParallelLayout.single(), 6);
        double[] parallel = GptCustomData.train(new ParallelLayout(2, 2, 1, ZeroStage.TWO, ScheduleKind.ONE_F_ONE_B,
                1, 1), 6);
        sameAsOneRank(parallel, one, "dp2 tp2 zero2");
        assertTrue(one[5] < one[0], "the loss falls: " + one[0] + " -> " + one[5]);
    }

    /** A layer of the user's that forgets to close a tensor it allocates in its forward. */
    static final class Leaky implements Layer {
        private final LayerContext ctx;
        private final Parameter scale;

        Leaky(LayerContext ctx) {
            this.ctx = ctx;
            this.scale = Parameter.constant(ctx.allocator(), ctx.backend().stream(), "leaky.scale", Shape.of(1), 1f);
        }

        public String name() {
            return "leaky";
        }

        public List<Parameter> parameters() {
            return List.of(scale);
        }

        public Set<String> tpReplicated() {
            return Set.of("leaky.scale");
        }

        public Tensor forward(int microBatch, Tensor x) {
            Tensor forgotten = Tensor.allocate(ctx.allocator(), DType.FP32, x.shape(), MemoryCategory.ACTIVATIONS,
                    "leaky.forgotten", ctx.backend().stream());
            forgotten.copyFrom(x, ctx.backend().stream());
            Tensor y = Tensor.allocate(ctx.allocator(), DType.FP32, x.shape(), MemoryCategory.ACTIVATIONS,
                    "leaky.out", ctx.backend().stream());
            y.copyFrom(x, ctx.backend().stream());
            return y;
        }

        public Tensor backward(int microBatch, Tensor dy) {
            Tensor dx = Tensor.allocate(ctx.allocator(), DType.FP32, dy.shape(), MemoryCategory.ACTIVATIONS,
                    "leaky.din", ctx.backend().stream());
            dx.copyFrom(dy, ctx.backend().stream());
            return dx;
        }

        public void close() {
            scale.close();
        }
    }

    /** The MLP with the leaky layer after its first block. */
    static final class LeakyMlp implements Model {
        private final DeepMlp mlp = new DeepMlp(16, 64, 4, 8);

        public String id() {
            return "leaky " + mlp.id();
        }

        public void validate(ParallelLayout layout) {
            mlp.validate(layout);
        }

        public List<Layer> buildStage(int stage, int stages, LayerContext ctx) {
            List<Layer> layers = new ArrayList<>(mlp.buildStage(stage, stages, ctx));
            layers.add(1, new Leaky(ctx));
            return layers;
        }

        public TensorSpec stageInput(int stage, int examples, ParallelLayout layout) {
            return mlp.stageInput(stage, examples, layout);
        }

        public TensorSpec stageOutput(int stage, int examples, ParallelLayout layout) {
            return mlp.stageOutput(stage, examples, layout);
        }

        public ModelLoss loss(LayerContext ctx) {
            return mlp.loss(ctx);
        }
    }

    /**
     * A tensor the user's layer never closes is named when the run ends, with the line of the user's code that
     * allocated it (allocation sites are recorded under {@code -Dgatun.memory.debug=true}).
     */
    @Test
    void aTensorTheCallersLayerDidNotCloseIsNamedWithItsCallSite() {
        String previous = System.getProperty(AllocationLedger.RECORD_SITES_PROPERTY);
        System.setProperty(AllocationLedger.RECORD_SITES_PROPERTY, "true");
        try {
            var model = new LeakyMlp();
            var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(1e-3, 1e-4, 0, 1), 1f, 0f,
                    7, 8);
            var e = assertThrows(RuntimeException.class, () -> new Training(model, ParallelLayout.single(), options,
                    CommOptions.DEFAULT).run(model.mlp.data(8, 7), 1, m -> { }));
            Throwable t = e;
            while (t != null && !(t instanceof MemoryLeakException)) {
                t = t.getCause();
            }
            assertTrue(t != null, "a leak report, got " + e);
            String report = t.getMessage();
            assertTrue(report.contains("owner 'leaky.forgotten' activations"), report);
            assertTrue(report.contains("\n      at " + Leaky.class.getName() + ".forward(ExamplesTest.java:"), report);
            assertTrue(!report.contains("leaky.out") && !report.contains("leaky.din"), "only what leaked: " + report);
        } finally {
            if (previous == null) {
                System.clearProperty(AllocationLedger.RECORD_SITES_PROPERTY);
            } else {
                System.setProperty(AllocationLedger.RECORD_SITES_PROPERTY, previous);
            }
        }
    }

    private static TrainOptions mlpOptions(int steps) {
        return new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(3e-3, 3e-4, 2, steps), 1f, 0f, 7, 32);
    }

    /** One rank driven step by step from outside, without a world: the same losses as the engine's loop. */
    @Test
    void aRankOnItsOwnNeedsNoWorldAndTrainsAsTheLoopDoes() {
        var model = new DeepMlp(16, 64, 4, 8);
        var data = model.data(32, 7);
        double[] loop = DeepMlp.train(ParallelLayout.single(), 4);
        try (CpuBackend backend = new CpuBackend(); HostAllocator allocator = new HostAllocator();
             RankTrainer rank = RankTrainer.alone(model, mlpOptions(4), backend, allocator)) {
            for (int s = 0; s < 4; s++) {
                assertEquals(loop[s], rank.step(s, data.batch(s)).loss().orElseThrow(), 1e-6, "step " + s);
            }
        }
    }

    /**
     * Evaluating a batch takes no step: the parameters stay, the loss is the one the step on that batch then
     * reports, and the step after is the same as without the evaluation (its gradients are discarded).
     */
    @Test
    void anEvaluationLeavesTheParametersAndTheNextStepsAsTheyWere() {
        var model = new DeepMlp(16, 64, 4, 8);
        var data = model.data(32, 7);
        try (CpuBackend backend = new CpuBackend(); HostAllocator allocator = new HostAllocator();
             RankTrainer evaluated = RankTrainer.alone(model, mlpOptions(3), backend, allocator);
             RankTrainer plain = RankTrainer.alone(model, mlpOptions(3), backend, allocator)) {
            float[] before = evaluated.parameterValues("block0.fc.weight");
            var e = evaluated.evaluate(data.batch(0), true);
            assertArrayEquals(before, evaluated.parameterValues("block0.fc.weight"));
            assertEquals(1, e.outputs().size());
            assertEquals(List.of(32L, 8L), java.util.Arrays.stream(e.outputs().getFirst().shape().dims()).boxed()
                    .toList(), "the logits of the 32 examples over 8 classes");
            for (int s = 0; s < 3; s++) {
                double a = evaluated.step(s, data.batch(s)).loss().orElseThrow();
                double b = plain.step(s, data.batch(s)).loss().orElseThrow();
                assertEquals(b, a, 0.0, "step " + s);
                if (s == 0) {
                    assertEquals(e.loss().orElseThrow(), a, 0.0, "the evaluation's loss is the step's");
                }
            }
            assertTrue(!java.util.Arrays.equals(before, evaluated.parameterValues("block0.fc.weight")),
                    "the steps did move the weights");
        }
    }

    /** The gradient hook sees the reduced gradients before the update: their norm is the one the step clips by. */
    @Test
    void theGradientHookSeesTheGradientsTheUpdateUses() {
        var model = new DeepMlp(16, 64, 4, 8);
        var data = model.data(32, 7);
        try (CpuBackend backend = new CpuBackend(); HostAllocator allocator = new HostAllocator();
             RankTrainer rank = RankTrainer.alone(model, mlpOptions(2), backend, allocator)) {
            double[] sumOfSquares = new double[1];
            var r = rank.step(0, data.batch(0), (step, g) -> {
                for (Tensor shard : g.shards()) {
                    for (float x : shard.toFloatArray(backend.stream())) {
                        sumOfSquares[0] += (double) x * x;
                    }
                }
            });
            assertEquals(r.update().gradNorm(), Math.sqrt(sumOfSquares[0]), 1e-5 * r.update().gradNorm());
            assertThrows(IllegalArgumentException.class, () -> rank.parameter("no.such.weight"));
        }
    }
}
