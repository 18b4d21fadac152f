package dev.gatun.gpt.model;

import dev.gatun.collectives.InProcessWorld;
import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.cpu.CpuBackend;
import dev.gatun.tp.Mappings;
import dev.gatun.train.LayerContext;
import dev.gatun.train.Recompute;
import dev.gatun.train.RecomputePlan;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What a transformer block keeps between its forward and its backward, measured by the accountant, against the
 * count of Korthikanti et al. (2022) at this library's fp32 without dropout. For {@code N = b·s} rows of width
 * {@code h}, {@code a} heads and tensor-parallel size {@code t}, a block keeps {@code 4·(3Nh + 4N + 12Nh/t +
 * a·s²·b/t)} bytes: the paper's {@code 34·sbh/t}-like linear terms (its 16-bit values and dropout masks aside) and
 * the attention probabilities {@code 4·a·s²·b/t}, its {@code 5as²b} term. Selective recomputation keeps exactly the
 * probabilities less; full keeps nothing of its own (its input is the stage's). With sequence parallelism every term
 * is divided by {@code t} — {@code 4·(3Nh + 4N + 12Nh)/t + 4·a·s²·b/t}, the paper's {@code sbh·(34/t + 5as/(ht))}
 * — since each rank keeps only its {@code N/t} rows of the LayerNorms' inputs and outputs and of the residual stream.
 * After the backwards nothing is left.
 */
class BlockActivationsTest {
    @ParameterizedTest(name = "tp {0}, {1}, sequence parallel {2}")
    @CsvSource({"1, NONE, false", "1, SELECTIVE, false", "1, FULL, false", "2, NONE, false", "2, SELECTIVE, false",
            "2, FULL, false", "2, NONE, true", "4, NONE, true", "2, SELECTIVE, true", "4, FULL, true"})
    void aBlockKeepsWhatThePaperCounts(int tp, Recompute mode, boolean sequenceParallel) {
        int b = 2;
        int s = 24;
        int h = 32;
        int a = 4;
        int microBatches = 3;
        GptConfig config = new GptConfig(1, a, h, s, 64, true);
        List<long[]> seen = InProcessWorld.run(tp, comm -> {
            try (CpuBackend backend = new CpuBackend(); HostAllocator allocator = new HostAllocator()) {
                var ctx = new LayerContext(backend, allocator, new Mappings(comm, allocator, backend.stream()), 7,
                        RecomputePlan.all(mode), sequenceParallel);
                int rows = sequenceParallel ? b * s / tp : b * s; // this rank's token rows
                try (TransformerBlock block = new TransformerBlock(0, config, ctx)) {
                    List<Tensor> xs = new ArrayList<>();
                    List<Tensor> ys = new ArrayList<>();
                    SplittableRandom random = new SplittableRandom(3);
                    for (int m = 0; m < microBatches; m++) {
                        float[] values = new float[rows * h];
                        for (int i = 0; i < values.length; i++) {
                            values[i] = (float) random.nextGaussian();
                        }
                        Tensor x = Tensor.allocate(allocator, DType.FP32,
                                sequenceParallel ? Shape.of(rows, h) : Shape.of(b, s, h),
                                MemoryCategory.ACTIVATIONS, "x", backend.stream());
                        x.copyFrom(values, backend.stream());
                        xs.add(x);
                    }
                    long before = activations(allocator);
                    for (int m = 0; m < microBatches; m++) {
                        ys.add(block.forward(m, xs.get(m)));
                    }
                    long kept = activations(allocator) - before - (long) microBatches * 4 * rows * h;
                    for (int m = microBatches - 1; m >= 0; m--) {
                        Tensor dy = ys.get(m);
                        try (Tensor dx = block.backward(m, dy)) {
                            dy.close();
                        }
                    }
                    long left = activations(allocator) - before;
                    xs.forEach(Tensor::close);
                    return new long[] {kept, left};
                }
            }
        });
        long n = (long) b * s;
        long probabilities = 4L * b * (a / tp) * s * s;
        long none = sequenceParallel ? 4 * (3 * n * h + 4 * n + 12 * n * h) / tp + probabilities
                : 4 * (3 * n * h + 4 * n + 12 * n * h / tp) + probabilities;
        long expected = switch (mode) {
            case NONE -> none;
            case SELECTIVE -> none - probabilities;
            case FULL -> 0;
        };
        for (long[] r : seen) {
            assertEquals(microBatches * expected, r[0], mode + " at tp " + tp + (sequenceParallel ? " sp" : "")
                    + ": bytes kept by " + microBatches
                    + " forwards");
            assertEquals(0, r[1], "bytes left after the backwards");
        }
    }

    private static long activations(HostAllocator allocator) {
        return allocator.accountant().report().usage(MemoryCategory.ACTIVATIONS).currentBytes();
    }
}
