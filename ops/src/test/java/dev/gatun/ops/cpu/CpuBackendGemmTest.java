package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.Transpose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static dev.gatun.ops.cpu.Numerics.FP32;
import static dev.gatun.ops.cpu.Numerics.assertClose;
import static dev.gatun.ops.cpu.Numerics.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * {@link CpuBackend#gemm} against a float64 reference: every transposition, 2-D and strided-batch 3-D, scales, a NaN
 * {@code C} with {@code beta = 0}, and bf16/fp16 inputs and outputs. It tests whatever GEMM kernel the backend is
 * wired to, so it covers the swap to the fast one.
 */
class CpuBackendGemmTest extends CpuBackendTestBase {
    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (Transpose opA : Transpose.values()) {
            for (Transpose opB : Transpose.values()) {
                cases.add(Arguments.of(opA, opB, 0, 7, 13, 5, DType.FP32, DType.FP32));
                cases.add(Arguments.of(opA, opB, 3, 17, 1, 37, DType.FP32, DType.FP32));
                cases.add(Arguments.of(opA, opB, 2, 33, 20, 70, DType.BF16, DType.FP32));
                cases.add(Arguments.of(opA, opB, 0, 1, 19, 9, DType.FP16, DType.FP16));
                cases.add(Arguments.of(opA, opB, 2, 9, 11, 16, DType.BF16, DType.BF16));
            }
        }
        return cases.stream();
    }

    /** {@code batch = 0} means 2-D tensors. */
    @ParameterizedTest
    @MethodSource("cases")
    void gemmMatchesReference(Transpose opA, Transpose opB, int batch, int m, int n, int k, DType in, DType out) {
        long seed = 1000L * m + 10L * n + k + opA.ordinal() * 2 + opB.ordinal();
        Random random = new Random(seed);
        int entries = Math.max(1, batch);
        boolean ta = opA.isTransposed();
        boolean tb = opB.isTransposed();
        try (TestTensors ts = new TestTensors()) {
            Tensor a = ts.of("a", in, random(random, entries * m * k, 1), dims(batch, ta ? k : m, ta ? m : k));
            Tensor b = ts.of("b", in, random(random, entries * k * n, 1), dims(batch, tb ? n : k, tb ? k : n));
            double[] cStart = random(random, entries * m * n, 1);
            Tensor c = ts.of("c", out, cStart, dims(batch, m, n));
            // The reference works on the values as rounded into the inputs' dtype.
            double[] av = ts.read(a);
            double[] bv = ts.read(b);
            double[] cv = ts.read(c);
            double tolerance = out == DType.FP32 ? FP32 : out == DType.FP16 ? 1e-3 : 1e-2;
            String what = "gemm " + opA + "·" + opB + " batch=" + batch + " m=" + m + " n=" + n + " k=" + k + " "
                    + in.shortName() + "->" + out.shortName() + ", seed " + seed;

            backend.gemm(a, opA, b, opB, c, 0.5f, 0.25f);
            assertClose(ts.read(c), Reference.gemm(av, ta, bv, tb, cv, entries, m, n, k, 0.5, 0.25), tolerance,
                    what + ", alpha 0.5, beta 0.25");

            c.fill(Double.NaN, ts.stream);
            backend.gemm(a, opA, b, opB, c, 1f, 0f);
            assertClose(ts.read(c), Reference.gemm(av, ta, bv, tb, null, entries, m, n, k, 1, 0), tolerance,
                    what + ", beta 0 over NaN");
        }
    }

    @Test
    void anEmptyInnerSizeScalesC() {
        try (TestTensors ts = new TestTensors()) {
            double[] cStart = random(new Random(81), 12, 1);
            Tensor c = ts.fp32("c", cStart, 3, 4);
            backend.gemm(ts.zeros("a", DType.FP32, 3, 0), Transpose.NONE, ts.zeros("b", DType.FP32, 0, 4),
                    Transpose.NONE, c, 2f, 0.5f);
            assertArrayEquals(Numerics.times(0.5, cStart), ts.read(c), "k = 0: C = beta·C");
        }
    }

    private static long[] dims(int batch, int rows, int columns) {
        return batch == 0 ? new long[]{rows, columns} : new long[]{batch, rows, columns};
    }
}
