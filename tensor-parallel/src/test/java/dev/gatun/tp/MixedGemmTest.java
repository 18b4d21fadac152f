package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HalfFloats;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.Transpose;
import dev.gatun.ops.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link MixedGemm}: with a bf16/fp16 weight the fp32 activation is rounded to that dtype and the products are summed
 * in fp32 (a float64 reference over the rounded operands agrees to fp32 accuracy, and differs from the unrounded
 * fp32 product by the rounding); fp32 math is the plain GEMM; {@code beta = 1} accumulates.
 */
class MixedGemmTest {
    private static final int N = 7;
    private static final int K = 13;
    private static final int M = 5;

    private static float round(DType dtype, float x) {
        return switch (dtype) {
            case BF16 -> HalfFloats.bf16BitsToFloat(HalfFloats.floatToBf16Bits(x));
            case FP16 -> HalfFloats.fp16BitsToFloat(HalfFloats.floatToFp16Bits(x));
            default -> x;
        };
    }

    /** {@code start + x·wᵀ} in float64 over the operands rounded to {@code math}. */
    private static double[] reference(DType math, float[] x, float[] w, float[] start) {
        double[] out = new double[N * M];
        for (int n = 0; n < N; n++) {
            for (int m = 0; m < M; m++) {
                double s = start[n * M + m];
                for (int k = 0; k < K; k++) {
                    s += (double) round(math, x[n * K + k]) * round(math, w[m * K + k]);
                }
                out[n * M + m] = s;
            }
        }
        return out;
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16"})
    void roundsTheActivationToTheWeightsDtypeAndAccumulatesInFp32(DType math) {
        float[] x = TpTesting.random("x." + math, N * K);
        float[] w = TpTesting.random("w." + math, M * K);
        float[] start = TpTesting.random("c." + math, N * M);
        DeviceStream stream = DeviceStream.cpu();
        try (CpuBackend backend = new CpuBackend(); HostAllocator allocator = new HostAllocator();
             Tensor tx = Tensor.allocate(allocator, DType.FP32, Shape.of(N, K), MemoryCategory.ACTIVATIONS, "x",
                     stream);
             Tensor tw = Tensor.allocate(allocator, math, Shape.of(M, K), MemoryCategory.PARAMETERS, "w", stream);
             Tensor c = Tensor.allocate(allocator, DType.FP32, Shape.of(N, M), MemoryCategory.ACTIVATIONS, "c",
                     stream)) {
            tx.copyFrom(x, stream);
            tw.copyFrom(w, stream);
            c.fill(Double.NaN, stream);
            MixedGemm.gemm(backend, allocator, math, tx, Transpose.NONE, tw, Transpose.TRANSPOSE, c, 0f);
            float[] zeros = new float[N * M];
            TpTesting.assertClose(math + " beta 0", c.toFloatArray(stream), reference(math, x, w, zeros));
            if (math != DType.FP32) {
                double rounding = TpTesting.relativeError(c.toFloatArray(stream),
                        reference(DType.FP32, x, w, zeros));
                assertTrue(rounding > 1e-4, "the activation must be rounded to " + math + ": " + rounding);
            }
            c.copyFrom(start, stream);
            MixedGemm.gemm(backend, allocator, math, tx, Transpose.NONE, tw, Transpose.TRANSPOSE, c, 1f);
            TpTesting.assertClose(math + " beta 1", c.toFloatArray(stream), reference(math, x, w, start));
            assertEquals(0, allocator.accountant().report().usage(MemoryCategory.WORKSPACE).currentBytes(),
                    "scratch freed");
        }
    }

    @Test
    void aParametersComputeViewDefaultsToItsValueAndTakesOnlyItsShape() {
        DeviceStream stream = DeviceStream.cpu();
        try (HostAllocator allocator = new HostAllocator();
             Parameter p = Parameter.constant(allocator, stream, "w", Shape.of(M, K), 1f);
             Tensor bf16 = Tensor.allocate(allocator, DType.BF16, Shape.of(M, K), MemoryCategory.PARAMETERS, "w16",
                     stream);
             Tensor wrong = Tensor.allocate(allocator, DType.BF16, Shape.of(K, M), MemoryCategory.PARAMETERS, "wt",
                     stream);
             Tensor ints = Tensor.allocate(allocator, DType.INT32, Shape.of(M, K), MemoryCategory.PARAMETERS, "wi",
                     stream)) {
            assertSame(p.value(), p.compute());
            p.bindCompute(bf16);
            assertSame(bf16, p.compute());
            var e = assertThrows(IllegalArgumentException.class, () -> p.bindCompute(wrong));
            assertEquals("parameter 'w' needs a floating-point compute copy of shape [5, 13], got 'wt' bf16 [13, 5]",
                    e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> p.bindCompute(ints));
            p.bindCompute(null);
            assertSame(p.value(), p.compute());
            assertTrue(Arrays.equals(p.value().toFloatArray(stream), p.compute().toFloatArray(stream)));
        }
    }
}
