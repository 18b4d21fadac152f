package dev.gatun.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.gatun.memory.DType;
import org.junit.jupiter.api.Test;

class GemmSpecTest {
    private static final MatrixLayout FP32_4 = new MatrixLayout(DType.FP32, 0, 4, 0);

    @Test
    void denseFactoryLaysOutTheStoredShapes() {
        GemmSpec spec = GemmSpec.of(Transpose.TRANSPOSE, Transpose.NONE, 3, 5, 7, DType.BF16, DType.FP32);
        assertEquals(new MatrixLayout(DType.BF16, 0, 3, 21), spec.a()); // A stored [k×m] = 7×3
        assertEquals(new MatrixLayout(DType.BF16, 0, 5, 35), spec.b());
        assertEquals(new MatrixLayout(DType.FP32, 0, 5, 15), spec.c());
        assertEquals(7, spec.storedRowsA());
        assertEquals(3, spec.storedColsA());
        assertEquals(1, spec.alpha());
        assertEquals(0, spec.beta());
        assertEquals(21, spec.aEnd());
        assertEquals(4 * 15, spec.withBatchCount(4).cEnd());
        assertEquals(2.0 * 3 * 5 * 7 * 4, spec.withBatchCount(4).flops());
    }

    @Test
    void endsCountOffsetsLeadingDimensionsAndStrides() {
        GemmSpec spec = GemmSpec.of(Transpose.NONE, Transpose.TRANSPOSE, 3, 5, 4, DType.FP32, DType.FP32)
                .withLayouts(new MatrixLayout(DType.FP32, 2, 6, 20), new MatrixLayout(DType.FP32, 1, 4, 0),
                        new MatrixLayout(DType.FP32, 0, 5, 15))
                .withBatchCount(3);
        assertEquals(2 + 2 * 20 + 2 * 6 + 4, spec.aEnd());
        assertEquals(1 + 4 * 4 + 4, spec.bEnd()); // stride 0: every entry reads the same B [n×k]
        assertEquals(45, spec.cEnd());
        assertEquals(0, spec.withBatchCount(0).aEnd());
    }

    @Test
    void leadingDimensionsShorterThanTheStoredRowsAreRejected() {
        GemmSpec spec = GemmSpec.of(Transpose.NONE, Transpose.NONE, 4, 4, 4, DType.FP32, DType.FP32);
        MatrixLayout ld3 = new MatrixLayout(DType.FP32, 0, 3, 0);
        assertEquals("lda=3 must be >= k=4 for A[m×k] not transposed",
                assertThrows(IllegalArgumentException.class, () -> spec.withLayouts(ld3, FP32_4, FP32_4)).getMessage());
        assertEquals("lda=3 must be >= m=5 for A stored [k×m] (transposed)",
                assertThrows(IllegalArgumentException.class, () -> new GemmSpec(Transpose.TRANSPOSE, Transpose.NONE, 5,
                        4, 4, 1, 0, ld3, FP32_4, FP32_4, 1)).getMessage());
        assertEquals("ldb=3 must be >= n=4 for B[k×n] not transposed",
                assertThrows(IllegalArgumentException.class, () -> spec.withLayouts(FP32_4, ld3, FP32_4)).getMessage());
        assertEquals("ldb=3 must be >= k=4 for B stored [n×k] (transposed)",
                assertThrows(IllegalArgumentException.class, () -> new GemmSpec(Transpose.NONE, Transpose.TRANSPOSE, 4,
                        4, 4, 1, 0, FP32_4, ld3, FP32_4, 1)).getMessage());
        assertEquals("ldc=3 must be >= n=4 for C[m×n]",
                assertThrows(IllegalArgumentException.class, () -> spec.withLayouts(FP32_4, FP32_4, ld3)).getMessage());
    }

    @Test
    void otherInvalidSpecsSayWhatWasExpected() {
        GemmSpec spec = GemmSpec.of(Transpose.NONE, Transpose.NONE, 4, 4, 4, DType.FP32, DType.FP32);
        assertEquals("B has dtype int32: GEMM operands must be fp32, bf16 or fp16",
                assertThrows(IllegalArgumentException.class, () -> spec.withLayouts(FP32_4,
                        new MatrixLayout(DType.INT32, 0, 4, 0), FP32_4)).getMessage());
        assertEquals("strideC=15 must be >= (m-1)·ldc + n = 16 so that the 2 matrices of C do not overlap",
                assertThrows(IllegalArgumentException.class, () -> spec.withLayouts(FP32_4, FP32_4,
                        new MatrixLayout(DType.FP32, 0, 4, 15)).withBatchCount(2)).getMessage());
        assertEquals("m, n and k must be >= 0, got m=-1, n=4, k=4",
                assertThrows(IllegalArgumentException.class, () -> new GemmSpec(Transpose.NONE, Transpose.NONE, -1, 4,
                        4, 1, 0, FP32_4, FP32_4, FP32_4, 1)).getMessage());
        assertEquals("batchCount must be >= 0, got -1",
                assertThrows(IllegalArgumentException.class, () -> spec.withBatchCount(-1)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> spec.withLayouts(FP32_4, FP32_4,
                new MatrixLayout(DType.FP32, Long.MAX_VALUE - 2, 4, 0)));
    }
}
