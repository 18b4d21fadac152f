package dev.gatun.ops.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gatun.memory.DType;
import dev.gatun.ops.GemmSpec;
import dev.gatun.ops.MatrixLayout;
import dev.gatun.ops.Transpose;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link CpuGemm} against a float64 triple loop over the values actually stored (16-bit inputs as rounded), by
 * relative error {@code ‖out − ref‖ / ‖ref‖}. Inputs are fresh random numbers each run; the seed is in every failure
 * message, and {@code -Dgatun.test.seed=S} replays it. Every buffer is exactly as large as its layout needs, so a read
 * past the end throws, and C's elements outside the matrices (row gaps, offsets, batch gaps) must come back unchanged.
 */
class CpuGemmTest {
    private static final ValueLayout.OfFloat FP32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ForkJoinPool TWO_WORKERS = new ForkJoinPool(2);
    /** Tiny blocks: several kc, mc and nc blocks (and both kernels) already at sizes of a few dozen, on two threads. */
    private static final GemmBlocking TINY_12 = new GemmBlocking(12, 8, 24, 40 * GemmKernel.NR, 0);
    private static final GemmBlocking TINY_4 = new GemmBlocking(4, 5, 12, 24 * GemmKernel.NR, 0);
    /** This machine's blocks, but every product split across the threads, however small. */
    private static final GemmBlocking ALWAYS_PARALLEL = withParallelMin(GemmBlocking.forThisMachine(), 0);

    private final CpuGemm gemm = new CpuGemm(TWO_WORKERS, ALWAYS_PARALLEL);

    @AfterAll
    static void shutDown() {
        TWO_WORKERS.shutdown();
    }

    static Stream<Arguments> awkwardShapes() {
        int[][] mnk = {{1, 1, 1}, {1, 17, 33}, {7, 1, 65}, {17, 33, 1}, {33, 17, 7}, {65, 127, 17}, {127, 65, 33},
                {13, 47, 129}};
        List<Arguments> cases = new ArrayList<>();
        for (int[] s : mnk) {
            for (Transpose ta : Transpose.values()) {
                for (Transpose tb : Transpose.values()) {
                    cases.add(Arguments.of(s[0], s[1], s[2], ta, tb));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "m={0} n={1} k={2} {3} {4}")
    @MethodSource("awkwardShapes")
    void awkwardShapesWithPaddedLayoutsMatchTheReference(int m, int n, int k, Transpose ta, Transpose tb) {
        GemmSpec spec = padded(GemmSpec.of(ta, tb, m, n, k, DType.FP32, DType.FP32), 3, 5, 2, 1)
                .withScale(1.5f, -0.75f);
        assertMatchesReference(gemm, spec, 1e-5);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("transposes")
    void tinyBlockingsRunEveryLoopOfBothKernels(Transpose ta, Transpose tb) {
        for (GemmBlocking blocking : List.of(TINY_12, TINY_4)) {
            CpuGemm tiny = new CpuGemm(TWO_WORKERS, blocking);
            for (int[] s : new int[][] {{61, 75, 43}, {5, 200, 19}, {100, 3, 31}}) {
                GemmSpec spec = padded(GemmSpec.of(ta, tb, s[0], s[1], s[2], DType.FP32, DType.FP32), 1, 2, 3, 4)
                        .withScale(0.5f, 2f);
                assertMatchesReference(tiny, spec, 1e-5);
            }
        }
    }

    static Stream<Arguments> transposes() {
        return Stream.of(Transpose.values())
                .flatMap(ta -> Stream.of(Transpose.values()).map(tb -> Arguments.of(ta, tb)));
    }

    @Test
    void betaZeroOverwritesNaNInC() {
        GemmSpec spec = padded(GemmSpec.of(Transpose.NONE, Transpose.TRANSPOSE, 37, 41, 29, DType.FP32, DType.FP32),
                2, 0, 3, 5).withScale(-2f, 0f);
        assertMatchesReference(gemm, spec, 1e-5); // beta = 0: C starts as NaN
    }

    @Test
    void kZeroOrAlphaZeroScalesCWithoutReadingAOrB() {
        for (GemmSpec spec : List.of(
                GemmSpec.of(Transpose.NONE, Transpose.NONE, 9, 35, 0, DType.FP32, DType.FP32).withScale(3f, 0.5f),
                GemmSpec.of(Transpose.NONE, Transpose.NONE, 9, 35, 0, DType.FP32, DType.FP32).withScale(3f, 0f),
                GemmSpec.of(Transpose.TRANSPOSE, Transpose.NONE, 9, 35, 6, DType.FP32, DType.BF16).withScale(0f, -1f),
                GemmSpec.of(Transpose.NONE, Transpose.NONE, 9, 35, 6, DType.FP32, DType.FP16).withScale(0f, 0f))) {
            assertMatchesReference(gemm, spec, 1e-2, Poison.A_AND_B_NAN);
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "FP16"})
    void sixteenBitInputsAccumulateInFp32(DType input) {
        GemmSpec spec = padded(GemmSpec.of(Transpose.TRANSPOSE, Transpose.NONE, 70, 45, 300, input, DType.FP32),
                1, 1, 1, 7).withScale(1f, 1f);
        assertMatchesReference(gemm, spec, 1e-5);
        MatrixLayout mixedB = MatrixLayout.dense(DType.FP32, spec.k(), spec.n());
        assertMatchesReference(gemm, spec.withLayouts(spec.a(), mixedB, spec.c()), 1e-5);
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "FP16"})
    void sixteenBitOutputIsRoundedOnceFromFp32(DType output) {
        double tolerance = output == DType.BF16 ? 1e-2 : 2e-3;
        for (float beta : new float[] {0f, 0.25f}) {
            GemmSpec spec = padded(GemmSpec.of(Transpose.NONE, Transpose.TRANSPOSE, 53, 66, 520, output, output),
                    2, 3, 1, 0).withScale(0.125f, beta);
            assertMatchesReference(new CpuGemm(TWO_WORKERS, TINY_12), spec, tolerance);
            assertMatchesReference(gemm, spec, tolerance);
        }
    }

    @Test
    void stridedBatchWithGapsAndASharedB() {
        GemmSpec dense = GemmSpec.of(Transpose.NONE, Transpose.NONE, 19, 23, 31, DType.FP32, DType.FP32);
        MatrixLayout a = new MatrixLayout(DType.FP32, 4, 33, 19 * 33 + 10);
        MatrixLayout b = new MatrixLayout(DType.FP32, 0, 23, 0); // one B for every entry, as a weight
        MatrixLayout c = new MatrixLayout(DType.FP32, 1, 25, 19 * 25 + 3);
        for (int batch : new int[] {2, 5, 9}) { // 9 >= 2 slots·2: one matrix per task
            assertMatchesReference(gemm, dense.withLayouts(a, b, c).withBatchCount(batch).withScale(1f, -1f), 1e-5);
        }
        GemmSpec halfC = GemmSpec.of(Transpose.TRANSPOSE, Transpose.TRANSPOSE, 8, 40, 16, DType.BF16, DType.BF16)
                .withBatchCount(6).withScale(1f, 1f);
        assertMatchesReference(gemm, halfC, 1e-2);
    }

    @Test
    void largeProductSpansBlocksAndThreadsAndEqualsTheOneThreadResultExactly() {
        assertMatchesAndEqualsTheOneThreadResult(padded(GemmSpec.of(Transpose.NONE, Transpose.NONE, 300, 257, 513,
                DType.FP32, DType.FP32), 0, 1, 0, 2).withScale(1f, 0.5f));
    }

    private void assertMatchesAndEqualsTheOneThreadResult(GemmSpec spec) {
        long seed = seed();
        Run parallel = run(gemm, spec, seed, Arena.ofShared(), Poison.NONE);
        parallel.assertMatches(1e-5);
        // Segments of a confined arena keep the product on the calling thread: same blocks, one thread.
        Run oneThread = run(gemm, spec, seed, Arena.ofConfined(), Poison.NONE);
        assertArrayEquals(oneThread.output, parallel.output, "seed=" + seed + ": threads changed the result");
    }

    @Test
    void fewRowsWithADeepKPackSeveralSpansOfAAndEqualTheOneThreadResultExactly() {
        // 64 rows × 17,000 deep is more packed A than one span holds (4 MiB), as in the LM head's input gradient.
        for (Transpose ta : Transpose.values()) {
            assertMatchesAndEqualsTheOneThreadResult(padded(GemmSpec.of(ta, Transpose.NONE, 64, 37, 17_000,
                    DType.FP32, DType.FP32), 1, 0, 3, 1).withScale(0.5f, 1f));
        }
    }

    @Test
    void concurrentCallsOnOneInstanceDoNotShareBuffers() throws Exception {
        ExecutorService callers = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> calls = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int size = 40 + 17 * t;
                calls.add(callers.submit(() -> {
                    for (int i = 0; i < 5; i++) {
                        assertMatchesReference(gemm, GemmSpec.of(Transpose.NONE, Transpose.TRANSPOSE, size, size + 3,
                                size - 5, DType.FP32, DType.FP32).withScale(1f, 1f), 1e-5);
                    }
                }));
            }
            for (Future<?> call : calls) {
                call.get();
            }
        } finally {
            callers.shutdown();
        }
    }

    @Test
    void emptyProductsTouchNothing() {
        for (GemmSpec spec : List.of(GemmSpec.of(Transpose.NONE, Transpose.NONE, 0, 5, 3, DType.FP32, DType.FP32),
                GemmSpec.of(Transpose.NONE, Transpose.NONE, 4, 0, 3, DType.FP32, DType.FP32),
                GemmSpec.of(Transpose.NONE, Transpose.NONE, 4, 5, 3, DType.FP32, DType.FP32).withBatchCount(0))) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment empty = arena.allocate(0);
                gemm.gemm(spec, empty, empty, empty);
            }
        }
    }

    @Test
    void badBuffersAreRejectedBeforeAnythingIsWritten() {
        GemmSpec spec = GemmSpec.of(Transpose.NONE, Transpose.NONE, 4, 5, 6, DType.FP32, DType.FP32);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(4 * 24);
            MemorySegment b = arena.allocate(4 * 30);
            MemorySegment c = arena.allocate(4 * 20);
            c.fill((byte) 7);
            IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                    () -> gemm.gemm(spec, a, b.asSlice(0, 4 * 29), c));
            assertEquals("B addresses elements [0, 30) of fp32 (120 bytes), but its segment holds 116 bytes",
                    small.getMessage());
            IllegalArgumentException readOnly = assertThrows(IllegalArgumentException.class,
                    () -> gemm.gemm(spec, a, b, c.asReadOnly()));
            assertEquals("the segment of C is read-only", readOnly.getMessage());
            MemorySegment shared = arena.allocate(4 * 44);
            IllegalArgumentException overlap = assertThrows(IllegalArgumentException.class,
                    () -> gemm.gemm(spec, shared, b, shared.asSlice(4 * 23)));
            assertEquals("C overlaps A in memory: write the product to a separate buffer", overlap.getMessage());
            assertEquals(-1, c.mismatch(arena.allocate(4 * 20).fill((byte) 7)), "C was written");
        }
        Arena closed = Arena.ofShared();
        MemorySegment freed = closed.allocate(4 * 30);
        closed.close();
        try (Arena arena = Arena.ofConfined()) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> gemm.gemm(spec, arena.allocate(4 * 24), freed, arena.allocate(4 * 20)));
            assertEquals("the segment of B is already freed (its arena is closed)", e.getMessage());
        }
    }

    private static GemmBlocking withParallelMin(GemmBlocking b, long parallelMin) {
        return new GemmBlocking(b.mr(), b.kc(), b.mcMax(), b.panelFloats(), parallelMin);
    }

    @Test
    void smallProductsOnTheDefaultBlockingStayCorrect() {
        CpuGemm defaults = new CpuGemm(TWO_WORKERS);
        for (int size : new int[] {3, 64, 129}) {
            assertMatchesReference(defaults, GemmSpec.of(Transpose.NONE, Transpose.TRANSPOSE, size, size, size,
                    DType.FP32, DType.FP32).withScale(1f, 1f), 1e-5);
        }
    }

    /** The same GEMM with leading dimensions {@code extra} elements longer and the given element offsets. */
    private static GemmSpec padded(GemmSpec spec, int extra, long offsetA, long offsetB, long offsetC) {
        MatrixLayout a = spec.a();
        MatrixLayout b = spec.b();
        MatrixLayout c = spec.c();
        return spec.withLayouts(new MatrixLayout(a.dtype(), offsetA, a.ld() + extra, 0),
                new MatrixLayout(b.dtype(), offsetB, b.ld() + extra + 1, 0),
                new MatrixLayout(c.dtype(), offsetC, c.ld() + extra + 2, 0));
    }

    private enum Poison {
        /** C starts NaN when beta = 0, random otherwise. */
        NONE,
        /** And A and B are NaN: a GEMM that must not read them. */
        A_AND_B_NAN
    }

    private static void assertMatchesReference(CpuGemm gemm, GemmSpec spec, double tolerance) {
        assertMatchesReference(gemm, spec, tolerance, Poison.NONE);
    }

    private static void assertMatchesReference(CpuGemm gemm, GemmSpec spec, double tolerance, Poison poison) {
        run(gemm, spec, seed(), Arena.ofShared(), poison).assertMatches(tolerance);
    }

    private static long seed() {
        return Long.getLong("gatun.test.seed", ThreadLocalRandom.current().nextLong());
    }

    /** C after the GEMM (as floats, in matrix order), the float64 reference, and what to say on failure. */
    private record Run(float[] output, double[] reference, String context) {
        void assertMatches(double tolerance) {
            double diff = 0;
            double norm = 0;
            for (int i = 0; i < output.length; i++) {
                if (!Float.isFinite(output[i])) {
                    fail(context + ": element " + i + " is " + output[i]);
                }
                diff += (output[i] - reference[i]) * (output[i] - reference[i]);
                norm += reference[i] * reference[i];
            }
            double relative = norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
            assertTrue(relative <= tolerance, context + ": relative error " + relative + " > " + tolerance);
        }
    }

    /** Runs {@code spec} on fresh random buffers from {@code arena} (closed after) and checks C's gaps. */
    private static Run run(CpuGemm gemm, GemmSpec spec, long seed, Arena arena, Poison poison) {
        String context = "seed=" + seed + " (-Dgatun.test.seed=" + seed + ") " + spec;
        Random random = new Random(seed);
        try (arena) {
            boolean nanInputs = poison == Poison.A_AND_B_NAN;
            MemorySegment a = filled(arena, spec.a().dtype(), spec.aEnd(), random, nanInputs);
            MemorySegment b = filled(arena, spec.b().dtype(), spec.bEnd(), random, nanInputs);
            MemorySegment c = filled(arena, spec.c().dtype(), spec.cEnd(), random, false);
            int m = spec.m();
            int n = spec.n();
            int batches = spec.batchCount();
            double[] reference = new double[batches * m * n];
            for (int e = 0; e < batches; e++) {
                double[][] opA = new double[m][spec.k()];
                double[][] opB = new double[spec.k()][n];
                for (int p = 0; p < spec.k(); p++) {
                    for (int i = 0; i < m; i++) {
                        long index = spec.transA().isTransposed() ? spec.a().index(e, p, i) : spec.a().index(e, i, p);
                        opA[i][p] = get(a, spec.a().dtype(), index);
                    }
                    for (int j = 0; j < n; j++) {
                        long index = spec.transB().isTransposed() ? spec.b().index(e, j, p) : spec.b().index(e, p, j);
                        opB[p][j] = get(b, spec.b().dtype(), index);
                    }
                }
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        long index = spec.c().index(e, i, j);
                        double sum = 0;
                        for (int p = 0; p < spec.k(); p++) {
                            sum += opA[i][p] * opB[p][j];
                        }
                        double old = 0;
                        if (spec.beta() == 0) {
                            set(c, spec.c().dtype(), index, Float.NaN);
                        } else {
                            old = spec.beta() * get(c, spec.c().dtype(), index);
                        }
                        reference[(e * m + i) * n + j] = (spec.alpha() == 0 ? 0 : spec.alpha() * sum) + old;
                    }
                }
            }
            byte[] before = c.toArray(ValueLayout.JAVA_BYTE);
            gemm.gemm(spec, a, b, c);
            float[] output = new float[reference.length];
            boolean[] inMatrix = new boolean[Math.toIntExact(spec.cEnd())];
            for (int e = 0; e < batches; e++) {
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        long index = spec.c().index(e, i, j);
                        inMatrix[(int) index] = true;
                        output[(e * m + i) * n + j] = (float) get(c, spec.c().dtype(), index);
                    }
                }
            }
            int size = spec.c().dtype().byteSize();
            for (int index = 0; index < inMatrix.length; index++) {
                if (!inMatrix[index] && MemorySegment.mismatch(c, (long) index * size, (long) (index + 1) * size,
                        MemorySegment.ofArray(before), (long) index * size, (long) (index + 1) * size) >= 0) {
                    fail(context + ": element " + index + " of C lies outside the matrices but was written");
                }
            }
            return new Run(output, reference, context);
        }
    }

    /** A segment of exactly {@code elements} random (or NaN) elements in [-1, 1). */
    private static MemorySegment filled(Arena arena, DType dtype, long elements, Random random, boolean nan) {
        MemorySegment segment = arena.allocate(elements * dtype.byteSize());
        for (long i = 0; i < elements; i++) {
            set(segment, dtype, i, nan ? Float.NaN : random.nextFloat() * 2 - 1);
        }
        return segment;
    }

    /** Stores {@code value}, rounded to {@code dtype} (Java's own conversions, not the code under test's). */
    private static void set(MemorySegment segment, DType dtype, long index, float value) {
        switch (dtype) {
            case FP32 -> segment.setAtIndex(FP32, index, value);
            case BF16 -> segment.setAtIndex(HALF, index, roundToBf16(value));
            case FP16 -> segment.setAtIndex(HALF, index, Float.floatToFloat16(value));
            default -> throw new AssertionError(dtype);
        }
    }

    private static double get(MemorySegment segment, DType dtype, long index) {
        return switch (dtype) {
            case FP32 -> segment.getAtIndex(FP32, index);
            case BF16 -> Float.intBitsToFloat(segment.getAtIndex(HALF, index) << 16);
            case FP16 -> Float.float16ToFloat(segment.getAtIndex(HALF, index));
            default -> throw new AssertionError(dtype);
        };
    }

    /** bfloat16 by rounding the float's bits to nearest even through a double (NaN stays a quiet NaN). */
    private static short roundToBf16(float value) {
        if (Float.isNaN(value)) {
            return (short) 0x7FC0;
        }
        int bits = Float.floatToRawIntBits(value);
        float down = Float.intBitsToFloat(bits & 0xFFFF0000);
        float up = Float.intBitsToFloat((bits & 0xFFFF0000) + 0x10000);
        double toDown = Math.abs((double) value - down);
        double toUp = Math.abs((double) up - value);
        boolean roundUp = toUp < toDown || toUp == toDown && ((bits >>> 16) & 1) == 1;
        return (short) ((roundUp ? (bits & 0xFFFF0000) + 0x10000 : bits & 0xFFFF0000) >>> 16);
    }
}
