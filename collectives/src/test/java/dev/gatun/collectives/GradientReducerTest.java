package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static dev.gatun.collectives.TestData.assertClose;
import static dev.gatun.collectives.TestData.inputs;
import static dev.gatun.collectives.TestData.read;
import static dev.gatun.collectives.TestData.reduced;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bucketed gradient averaging against float64 references, and the DDP bucket plan. */
@Timeout(60)
class GradientReducerTest {
    private static final CommOptions OPTIONS = CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(10));
    /** Awkward sizes: 1, primes, and a count no world size above 1 divides. */
    private static final long[] NUMELS = {7, 1, 101, 1009, 33, 250, 3};
    /** Small caps so that the gradients above make several buckets: 64 B first, then 1000 B. */
    private static final long FIRST_CAP = 64;
    private static final long CAP = 1000;

    static Stream<Arguments> sizesAndDtypes() {
        return IntStream.rangeClosed(1, 4).boxed()
                .flatMap(size -> Stream.of(DType.FP32, DType.BF16).map(dtype -> Arguments.of(size, dtype)));
    }

    private static long seed(int step, int grad) {
        return 1000L * step + grad;
    }

    private static List<Tensor> grads(HostAllocator allocator, DType dtype, int rank, int step) {
        List<Tensor> grads = new ArrayList<>();
        for (int i = 0; i < NUMELS.length; i++) {
            grads.add(inputs(allocator, dtype, NUMELS[i], seed(step, i), rank, 0));
        }
        return grads;
    }

    /** A different marking order on every rank: buckets must still launch in the same order everywhere. */
    private static List<Integer> markOrder(int rank) {
        List<Integer> order = new ArrayList<>(IntStream.range(0, NUMELS.length).boxed().toList());
        Collections.shuffle(order, new Random(rank));
        return order;
    }

    @ParameterizedTest(name = "{0} ranks, {1}")
    @MethodSource("sizesAndDtypes")
    void allReduceModeAveragesEveryGradientOverTwoSteps(int size, DType dtype) {
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(size, OPTIONS, comm -> {
                int r = comm.rank();
                List<Tensor> grads = grads(allocator, dtype, r, 0);
                try (GradientReducer reducer = new GradientReducer(comm, allocator, grads,
                        GradientReducer.Mode.ALL_REDUCE, FIRST_CAP, CAP)) {
                    int buckets = reducer.plan().buckets().size();
                    assertTrue(buckets > 1 && buckets < NUMELS.length, reducer.plan().toString());
                    for (int step = 0; step < 2; step++) {
                        if (step > 0) {
                            for (int i = 0; i < NUMELS.length; i++) {
                                TestData.write(grads.get(i), inputsOf(dtype, seed(1, 0), r, i));
                            }
                        }
                        CommStats before = comm.stats();
                        for (int i : markOrder(r + 10 * step)) {
                            reducer.markReady(i);
                        }
                        reducer.finish();
                        CommStats calls = comm.stats().minus(before);
                        assertEquals(buckets, calls.calls(OpType.ALL_REDUCE), "one all-reduce per bucket");
                        assertEquals(buckets, calls.totalCalls());
                        for (int i = 0; i < NUMELS.length; i++) {
                            long s = step == 0 ? seed(0, i) : seed(1, 0);
                            double[] expected = step == 0 ? reduced(dtype, ReduceOp.AVG, size, s, 0, NUMELS[i])
                                    : reducedShifted(dtype, size, s, i);
                            assertClose(dtype, expected, read(grads.get(i)),
                                    "step " + step + " grad " + i + " rank " + r);
                        }
                    }
                } finally {
                    grads.forEach(Tensor::close);
                }
                return null;
            });
        }
    }

    /** Step-1 inputs: grad {@code g} element {@code j} of rank {@code q} is {@code input(seed, q, 10_000·g + j)}. */
    private static java.util.function.LongToDoubleFunction inputsOf(DType dtype, long seed, int rank, int grad) {
        return j -> TestData.input(dtype, seed, rank, 10_000L * grad + j);
    }

    private static double[] reducedShifted(DType dtype, int size, long seed, int grad) {
        return reduced(dtype, ReduceOp.AVG, size, seed, 10_000L * grad, NUMELS[grad]);
    }

    @ParameterizedTest(name = "{0} ranks, {1}")
    @MethodSource("sizesAndDtypes")
    void reduceScatterModeLeavesEachRankItsAveragedShard(int size, DType dtype) {
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(size, OPTIONS, comm -> {
                int r = comm.rank();
                List<Tensor> grads = grads(allocator, dtype, r, 0);
                try (GradientReducer reducer = new GradientReducer(comm, allocator, grads,
                        GradientReducer.Mode.REDUCE_SCATTER, FIRST_CAP, CAP)) {
                    for (int i : markOrder(r)) {
                        reducer.markReady(grads.get(i));
                    }
                    reducer.finish();
                    BucketPlan plan = reducer.plan();
                    assertEquals(plan.buckets().size(), comm.stats().calls(OpType.REDUCE_SCATTER));
                    for (BucketPlan.Bucket b : plan.buckets()) {
                        assertEquals(0, b.paddedNumel() % size, plan.toString());
                        double[] whole = new double[(int) b.paddedNumel()];
                        for (int k = 0; k < b.gradIndices().size(); k++) {
                            int g = b.gradIndices().get(k);
                            double[] avg = reduced(dtype, ReduceOp.AVG, size, seed(0, g), 0, NUMELS[g]);
                            System.arraycopy(avg, 0, whole, b.offsets().get(k).intValue(), avg.length);
                        }
                        int m = (int) b.shardNumel(size);
                        double[] expected = java.util.Arrays.copyOfRange(whole, r * m, (r + 1) * m);
                        assertClose(dtype, expected, read(reducer.shard(b.index())),
                                "bucket " + b.index() + " shard of rank " + r);
                    }
                } finally {
                    grads.forEach(Tensor::close);
                }
                return null;
            });
        }
    }

    @Test
    void planFillsBucketsInReverseOrderWithASmallFirstCap() {
        long mib = 1L << 20;
        // fp32 gradients of 24 MiB, 16 MiB, 16 MiB, 1 MiB, 512 KiB, 512 KiB
        long[] numels = {6 * mib, 4 * mib, 4 * mib, mib / 4, mib / 8, mib / 8};
        BucketPlan plan = BucketPlan.build(numels, 4, BucketPlan.DEFAULT_FIRST_CAP_BYTES,
                BucketPlan.DEFAULT_CAP_BYTES, 1);
        assertEquals(3, plan.buckets().size(), plan.toString());
        assertEquals(List.of(5, 4), plan.buckets().get(0).gradIndices());
        assertEquals(List.of(0L, mib / 8), plan.buckets().get(0).offsets());
        assertEquals(List.of(3, 2, 1), plan.buckets().get(1).gradIndices());
        assertEquals(List.of(0L, mib / 4, mib / 4 + 4 * mib), plan.buckets().get(1).offsets());
        assertEquals(mib / 4 + 8 * mib, plan.buckets().get(1).numel());
        assertEquals(List.of(0), plan.buckets().get(2).gradIndices());
        assertEquals(new BucketPlan.Slot(2, 1, mib / 4, 4 * mib), plan.slots().get(2));
        assertTrue(plan.toString().contains("bucket 1: " + (mib / 4 + 8 * mib) + " elements"), plan.toString());
    }

    @Test
    void planPadsBucketsToAMultipleOfTheWorldSize() {
        BucketPlan plan = BucketPlan.build(new long[] {5, 3}, 4, 40, 1000, 4);
        assertEquals(List.of(1, 0), plan.buckets().getFirst().gradIndices());
        assertEquals(8, plan.buckets().getFirst().numel());
        assertEquals(8, plan.buckets().getFirst().paddedNumel());
        BucketPlan odd = BucketPlan.build(new long[] {5, 2}, 4, 1000, 1000, 4);
        assertEquals(7, odd.buckets().getFirst().numel());
        assertEquals(8, odd.buckets().getFirst().paddedNumel());
        assertEquals(2, odd.buckets().getFirst().shardNumel(4));
    }

    @Test
    void misuseIsRejectedWithTheGradientNamed() {
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(1, OPTIONS, comm -> {
                List<Tensor> grads = grads(allocator, DType.FP32, 0, 0);
                try (Tensor bf16 = inputs(allocator, DType.BF16, 4, 1, 0, 0);
                     Tensor stranger = inputs(allocator, DType.FP32, 4, 1, 0, 0)) {
                    List<Tensor> mixed = new ArrayList<>(grads);
                    mixed.add(bf16);
                    IllegalArgumentException dtype = assertThrows(IllegalArgumentException.class, () ->
                            new GradientReducer(comm, allocator, mixed, GradientReducer.Mode.ALL_REDUCE));
                    assertTrue(dtype.getMessage().contains("bf16"), dtype.getMessage());
                    List<Tensor> twice = List.of(grads.get(0), grads.get(0));
                    assertThrows(IllegalArgumentException.class, () ->
                            new GradientReducer(comm, allocator, twice, GradientReducer.Mode.ALL_REDUCE));
                    try (GradientReducer reducer = new GradientReducer(comm, allocator, grads,
                            GradientReducer.Mode.ALL_REDUCE, FIRST_CAP, CAP)) {
                        reducer.markReady(3);
                        IllegalStateException again = assertThrows(IllegalStateException.class,
                                () -> reducer.markReady(3));
                        assertTrue(again.getMessage().contains("already marked"), again.getMessage());
                        assertThrows(IllegalArgumentException.class, () -> reducer.markReady(stranger));
                        for (int i = 0; i < NUMELS.length; i++) {
                            if (i != 3 && i != 5) {
                                reducer.markReady(i);
                            }
                        }
                        IllegalStateException unmarked = assertThrows(IllegalStateException.class, reducer::finish);
                        assertTrue(unmarked.getMessage().contains("1 of 7"), unmarked.getMessage());
                        assertTrue(unmarked.getMessage().contains("5 '" + grads.get(5).name() + "'"),
                                unmarked.getMessage());
                        reducer.markReady(5);
                        reducer.finish();
                    }
                } finally {
                    grads.forEach(Tensor::close);
                }
                return null;
            });
        }
    }
}
