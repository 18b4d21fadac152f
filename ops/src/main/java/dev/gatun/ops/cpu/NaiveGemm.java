package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import dev.gatun.memory.HalfFloats;
import dev.gatun.ops.GemmSpec;
import dev.gatun.ops.MatrixLayout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A simple, correct GEMM for {@link CpuBackend} until the fast one is in, with the semantics {@link GemmSpec} states:
 * per batch entry {@code C = alpha·op(A)·op(B) + beta·C} over the spec's layouts, inputs of fp32, bf16 or fp16 widened
 * to fp32, fp32 accumulation in a fixed order ({@code p = 0…k−1}), the result rounded once to {@code C}'s dtype;
 * {@code beta = 0} never reads {@code C}, {@code k = 0} or {@code alpha = 0} never reads {@code A} or {@code B}.
 * {@code op(B)} is widened once per batch entry; rows of {@code C} are split into tasks by {@link Parallel}.
 */
final class NaiveGemm {
    private final Parallel parallel;

    NaiveGemm(Parallel parallel) {
        this.parallel = parallel;
    }

    /** Runs {@code spec} on the buffers of A, B and C (bounds are the segments'). */
    void gemm(GemmSpec spec, MemorySegment a, MemorySegment b, MemorySegment c) {
        int m = spec.m();
        int n = spec.n();
        int k = spec.k();
        if (spec.batchCount() == 0 || m == 0 || n == 0) {
            return;
        }
        boolean product = k > 0 && spec.alpha() != 0;
        float[][] opB = product ? widenOpB(spec, b) : null;
        MatrixLayout la = spec.a();
        MatrixLayout lc = spec.c();
        boolean transA = spec.transA().isTransposed();
        float alpha = spec.alpha();
        float beta = spec.beta();
        parallel.forEach(Parallel.Split.of((long) spec.batchCount() * m, (long) n * Math.max(1, k)), (lo, hi) -> {
            float[] acc = new float[n];
            for (long r = lo; r < hi; r++) {
                long entry = r / m;
                int i = (int) (r % m);
                Arrays.fill(acc, 0f);
                if (product) {
                    float[] bm = opB[opB.length == 1 ? 0 : (int) entry];
                    for (int p = 0; p < k; p++) {
                        float s = load(a, la.dtype(), transA ? la.index(entry, p, i) : la.index(entry, i, p));
                        int row = p * n;
                        for (int j = 0; j < n; j++) {
                            acc[j] += s * bm[row + j];
                        }
                    }
                }
                for (int j = 0; j < n; j++) {
                    long index = lc.index(entry, i, j);
                    float value = alpha * acc[j];
                    if (beta != 0) {
                        value += beta * load(c, lc.dtype(), index);
                    }
                    store(c, lc.dtype(), index, value);
                }
            }
        });
    }

    /** {@code op(B)} of each batch entry (one when the batch stride is 0) as a row-major {@code [k, n]} float array. */
    private static float[][] widenOpB(GemmSpec spec, MemorySegment b) {
        int k = spec.k();
        int n = spec.n();
        if ((long) k * n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("gemm: op(B) of " + k + "×" + n + " is too large for the reference GEMM");
        }
        MatrixLayout lb = spec.b();
        boolean transB = spec.transB().isTransposed();
        int entries = lb.batchStride() == 0 ? 1 : spec.batchCount();
        float[][] out = new float[entries][k * n];
        for (int e = 0; e < entries; e++) {
            for (int p = 0; p < k; p++) {
                for (int j = 0; j < n; j++) {
                    out[e][p * n + j] = load(b, lb.dtype(), transB ? lb.index(e, j, p) : lb.index(e, p, j));
                }
            }
        }
        return out;
    }

    private static float load(MemorySegment s, DType type, long index) {
        return switch (type) {
            case FP32 -> s.getAtIndex(ValueLayout.JAVA_FLOAT, index);
            case BF16 -> HalfFloats.bf16BitsToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, index));
            case FP16 -> HalfFloats.fp16BitsToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, index));
            default -> throw new IllegalArgumentException("gemm: " + type.shortName() + " is not a GEMM dtype");
        };
    }

    private static void store(MemorySegment s, DType type, long index, float value) {
        switch (type) {
            case FP32 -> s.setAtIndex(ValueLayout.JAVA_FLOAT, index, value);
            case BF16 -> s.setAtIndex(ValueLayout.JAVA_SHORT, index, HalfFloats.floatToBf16Bits(value));
            case FP16 -> s.setAtIndex(ValueLayout.JAVA_SHORT, index, HalfFloats.floatToFp16Bits(value));
            default -> throw new IllegalArgumentException("gemm: " + type.shortName() + " is not a GEMM dtype");
        }
    }
}
