package dev.gatun.pipeline;

import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.InProcessWorld;
import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PipelineExecutorTest {
    /** 9 layers of width 5–8: uneven over 2, 4, 6 and 8 stages. */
    private static final int[] WIDTHS = {6, 8, 5, 7, 8, 6, 5, 7, 8, 6};
    private static final int LAYERS = WIDTHS.length - 1;
    private static final int ROWS = 3;
    private static final long SEED = 42;
    private static final DeviceStream CPU = DeviceStream.cpu();

    private HostAllocator allocator;

    @BeforeEach
    void newAllocator() {
        allocator = new HostAllocator();
    }

    @AfterEach
    void closeAllocator() {
        allocator.close();
    }

    static Stream<Arguments> layouts() {
        List<Arguments> cases = new ArrayList<>();
        for (int p = 1; p <= 4; p++) {
            for (int m : new int[] {1, 2, 5}) {
                cases.add(Arguments.of("GPipe", p, m, 1));
                cases.add(Arguments.of("1F1B", p, m, 1));
                cases.add(Arguments.of("ZB-H1", p, m, 1));
            }
        }
        for (int p = 2; p <= 4; p++) {
            cases.add(Arguments.of("interleaved", p, p, 2));
            cases.add(Arguments.of("interleaved", p, 2 * p, 2));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} p={1} m={2} v={3}")
    @MethodSource("layouts")
    @Timeout(10)
    void matchesTheUnsplitRunAndTheScheduledPeak(String kind, int p, int m, int v) {
        Schedule compute = switch (kind) {
            case "GPipe" -> Schedules.gpipe(p, m);
            case "1F1B" -> Schedules.oneFOneB(p, m);
            case "ZB-H1" -> Schedules.zbH1(p, m);
            default -> Schedules.interleaved1F1B(p, m, v);
        };
        PipelineExecutor executor = new PipelineExecutor(SendRecvLowering.lower(compute));
        List<Tensor> inputs = inputs(m);
        float[][] targets = targets(m);
        List<MlpStage> stages = split(p * v);
        SquaredErrorLoss loss = new SquaredErrorLoss(targets, ROWS, allocator, CPU);

        List<PipelineResult> results = InProcessWorld.run(p, comm -> {
            List<MlpStage> local = new ArrayList<>();
            for (int c = 0; c < v; c++) {
                local.add(stages.get(c * p + comm.rank()));
            }
            return executor.run(comm, local, inputs::get, loss, allocator);
        });

        MlpStage whole = new MlpStage(WIDTHS, 0, LAYERS, ROWS, SEED, allocator, CPU);
        double refLoss = unsplitLoss(whole, inputs, loss);
        inputs.forEach(Tensor::close);

        PipelineResult lastRank = results.get(executor.schedule().rankOf(p * v - 1));
        assertEquals(m, lastRank.losses().size());
        assertEquals(refLoss, lastRank.meanLoss().orElseThrow(), 1e-6 * Math.abs(refLoss));
        for (int s = 0; s < p * v; s++) {
            MlpStage stage = stages.get(s);
            assertEquals(0, stage.savedMicroBatches(), "stage " + s + " kept activations");
            for (int l = bounds(p * v)[s]; l < bounds(p * v)[s + 1]; l++) {
                assertTrue(relativeError(stage.grad(l), whole.grad(l)) < 1e-5,
                        "layer " + l + " gradient on stage " + s + ": relative error "
                                + relativeError(stage.grad(l), whole.grad(l)));
            }
            assertEquals(executor.timeline().peakInFlight(s),
                    results.get(s % p).peakInFlight().get(s), "peak in-flight activations of stage " + s);
        }
        for (int r = 0; r < p; r++) {
            List<Timeline.Slot> measured = results.get(r).measured();
            List<Action> computed = executor.timeline().slots().get(r).stream().map(Timeline.Slot::action).toList();
            assertEquals(computed, measured.stream().map(Timeline.Slot::action).toList(),
                    "rank " + r + " measures its compute actions in schedule order");
            for (int k = 0; k < measured.size(); k++) {
                assertTrue(measured.get(k).duration() >= 0 && (k == 0
                        || measured.get(k).start() >= measured.get(k - 1).end()), measured.toString());
            }
        }
        Timeline real = PipelineResult.measuredTimeline(executor.timeline(), results);
        assertTrue(real.makespan() > 0 && GanttChart.svg(real).contains("rank " + (p - 1)));
        assertEquals(List.of(), allocator.liveAllocations(), "the executor left tensors allocated");
    }

    @Test
    @Timeout(10)
    void aFailingStageEndsEveryRankWithAnError() {
        int p = 3;
        int m = 4;
        PipelineExecutor executor = new PipelineExecutor(SendRecvLowering.lower(Schedules.oneFOneB(p, m)));
        List<Tensor> inputs = inputs(m);
        List<MlpStage> stages = split(p);
        stages.get(1).failForwardAt = 1;
        SquaredErrorLoss loss = new SquaredErrorLoss(targets(m), ROWS, allocator, CPU);

        RuntimeException e = assertThrows(RuntimeException.class, () -> InProcessWorld.run(p,
                CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(5)),
                comm -> executor.run(comm, List.of(stages.get(comm.rank())), inputs::get, loss, allocator)));

        PipelineExecutionException failure = assertInstanceOf(PipelineExecutionException.class, e);
        assertEquals(1, failure.rank());
        assertTrue(failure.getMessage().contains("1F1"), failure.getMessage());
        assertTrue(failure.getCause().getMessage().contains("boom"), failure.getCause().getMessage());
        assertEquals(p - 1, e.getSuppressed().length, "every other rank fails too");
        inputs.forEach(Tensor::close);
        assertEquals(List.of(), allocator.liveAllocations(), "a failed run left tensors allocated");
    }

    @Test
    void rejectsAScheduleWithoutCommunication() {
        InvalidScheduleException e = assertThrows(InvalidScheduleException.class,
                () -> new PipelineExecutor(Schedules.oneFOneB(2, 2)));
        assertTrue(e.getMessage().contains("SendRecvLowering.lower"), e.getMessage());
    }

    @Test
    @Timeout(10)
    void rejectsAWrongNumberOfLocalStages() {
        PipelineExecutor executor = new PipelineExecutor(SendRecvLowering.lower(Schedules.interleaved1F1B(2, 2, 2)));
        List<MlpStage> stages = split(2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InProcessWorld.run(2,
                comm -> executor.run(comm, List.of(stages.get(comm.rank())), mb -> null, (mb, out, scale) -> null,
                        allocator)));
        assertTrue(e.getMessage().contains("v=2"), e.getMessage());
    }

    /**
     * ZB-H1's split backward adds exactly 1F1B's gradients: the same stages' weight gradients accumulate in the same
     * micro-batch order, so losses and every gradient are equal bit for bit.
     */
    @ParameterizedTest(name = "p={0} m={1}")
    @CsvSource({"2, 2", "2, 5", "3, 3", "3, 7", "4, 4", "4, 9"})
    @Timeout(10)
    void zbH1AddsTheGradientsOf1F1BBitForBit(int p, int m) {
        List<Tensor> inputs = inputs(m);
        SquaredErrorLoss loss = new SquaredErrorLoss(targets(m), ROWS, allocator, CPU);
        List<MlpStage> oneF = split(p);
        List<MlpStage> zb = split(p);
        List<List<Double>> losses = new ArrayList<>();
        for (var run : List.of(Map.entry(Schedules.oneFOneB(p, m), oneF), Map.entry(Schedules.zbH1(p, m), zb))) {
            PipelineExecutor executor = new PipelineExecutor(SendRecvLowering.lower(run.getKey()));
            List<PipelineResult> results = InProcessWorld.run(p, comm -> executor.run(comm,
                    List.of(run.getValue().get(comm.rank())), inputs::get, loss, allocator));
            losses.add(results.get(p - 1).losses());
        }
        inputs.forEach(Tensor::close);
        assertEquals(losses.get(0), losses.get(1));
        for (int s = 0; s < p; s++) {
            assertEquals(0, zb.get(s).savedMicroBatches(), "stage " + s + " kept activations");
            for (int l = bounds(p)[s]; l < bounds(p)[s + 1]; l++) {
                float[] a = oneF.get(s).grad(l);
                float[] b = zb.get(s).grad(l);
                for (int i = 0; i < a.length; i++) {
                    assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]),
                            "layer " + l + " gradient " + i + ": " + a[i] + " vs " + b[i]);
                }
            }
        }
        assertEquals(List.of(), allocator.liveAllocations(), "the executor left tensors allocated");
    }

    /** A stage that does not split its backward says so when a zero-bubble schedule asks it to. */
    @Test
    void aStageWithoutASplitBackwardIsNamedWhenZbH1NeedsIt() {
        PipelineStage whole = new PipelineStage() {
            @Override
            public TensorSpec inputSpec(int microBatch) {
                return new TensorSpec(DType.FP32, Shape.of(ROWS, WIDTHS[0]));
            }

            @Override
            public TensorSpec outputSpec(int microBatch) {
                return inputSpec(microBatch);
            }

            @Override
            public Tensor forward(int microBatch, Tensor input) {
                Tensor out = Tensor.allocate(allocator, DType.FP32, input.shape(), MemoryCategory.ACTIVATIONS, "out",
                        CPU);
                out.copyFrom(input, CPU);
                return out;
            }

            @Override
            public Tensor backward(int microBatch, Tensor outputGrad) {
                throw new AssertionError("not called");
            }

            @Override
            public String toString() {
                return "the copy stage";
            }
        };
        List<Tensor> inputs = inputs(1);
        SquaredErrorLoss loss = new SquaredErrorLoss(targets(1), ROWS, allocator, CPU);
        PipelineExecutor executor = new PipelineExecutor(SendRecvLowering.lower(Schedules.zbH1(1, 1)));
        var e = assertThrows(RuntimeException.class, () -> InProcessWorld.run(1,
                comm -> executor.run(comm, List.of(whole), inputs::get, loss, allocator)));
        Throwable root = e;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        inputs.forEach(Tensor::close);
        assertTrue(root.getMessage().startsWith("the copy stage does not split its backward"), root.getMessage());
    }

    /** The unsplit model run directly, one micro-batch after another: the batch loss; gradients land in {@code whole}. */
    private static double unsplitLoss(MlpStage whole, List<Tensor> inputs, PipelineLoss loss) {
        double sum = 0;
        for (int mb = 0; mb < inputs.size(); mb++) {
            try (Tensor out = whole.forward(mb, inputs.get(mb))) {
                PipelineLoss.Result r = loss.evaluate(mb, out, 1.0 / inputs.size());
                sum += r.loss();
                try (Tensor g = r.outputGrad(); Tensor gx = whole.backward(mb, g)) {
                    assertEquals(whole.inputSpec(mb).shape(), gx.shape());
                }
            }
        }
        return sum / inputs.size();
    }

    /** Layer boundaries of {@code stages} stages: the first {@code LAYERS mod stages} get one layer more. */
    private static int[] bounds(int stages) {
        int[] b = new int[stages + 1];
        for (int s = 0; s < stages; s++) {
            b[s + 1] = b[s] + LAYERS / stages + (s < LAYERS % stages ? 1 : 0);
        }
        return b;
    }

    private List<MlpStage> split(int stages) {
        int[] b = bounds(stages);
        List<MlpStage> out = new ArrayList<>();
        for (int s = 0; s < stages; s++) {
            out.add(new MlpStage(WIDTHS, b[s], b[s + 1], ROWS, SEED, allocator, CPU));
        }
        return out;
    }

    private List<Tensor> inputs(int m) {
        SplittableRandom random = new SplittableRandom(7);
        List<Tensor> out = new ArrayList<>();
        for (int mb = 0; mb < m; mb++) {
            Tensor t = Tensor.allocate(allocator, DType.FP32, Shape.of(ROWS, WIDTHS[0]), MemoryCategory.ACTIVATIONS,
                    "input" + mb, CPU);
            t.copyFrom(randomFloats(random, ROWS * WIDTHS[0]), CPU);
            out.add(t);
        }
        return out;
    }

    private static float[][] targets(int m) {
        SplittableRandom random = new SplittableRandom(11);
        float[][] out = new float[m][];
        for (int mb = 0; mb < m; mb++) {
            out[mb] = randomFloats(random, ROWS * WIDTHS[LAYERS]);
        }
        return out;
    }

    private static float[] randomFloats(SplittableRandom random, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return a;
    }

    private static double relativeError(float[] out, float[] ref) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < ref.length; i++) {
            diff += (out[i] - (double) ref[i]) * (out[i] - (double) ref[i]);
            norm += (double) ref[i] * ref[i];
        }
        return Math.sqrt(diff / norm);
    }
}
