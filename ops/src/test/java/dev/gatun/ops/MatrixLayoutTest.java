package dev.gatun.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.gatun.memory.DType;
import org.junit.jupiter.api.Test;

class MatrixLayoutTest {
    @Test
    void indexAndEndFollowOffsetLeadingDimensionAndStride() {
        MatrixLayout layout = new MatrixLayout(DType.FP16, 3, 10, 100);
        assertEquals(3 + 2 * 100 + 4 * 10 + 7, layout.index(2, 4, 7));
        assertEquals(3 + 100 + 9 * 10 + 8 + 1, layout.end(2, 10, 9));
        assertEquals(0, layout.end(2, 0, 9));
        assertEquals(new MatrixLayout(DType.FP16, 5, 10, 100), layout.withOffset(5));
        assertEquals(new MatrixLayout(DType.FP32, 0, 1, 0), MatrixLayout.dense(DType.FP32, 4, 0));
        assertThrows(ArithmeticException.class, () -> new MatrixLayout(DType.FP32, 0, Long.MAX_VALUE / 2, 0)
                .end(1, 4, 1));
    }

    @Test
    void invalidLayoutsAreRejected() {
        assertEquals("leading dimension must be >= 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> new MatrixLayout(DType.FP32, 0, 0, 0)).getMessage());
        assertEquals("offset must be >= 0, got -1",
                assertThrows(IllegalArgumentException.class, () -> new MatrixLayout(DType.FP32, -1, 1, 0))
                        .getMessage());
        assertEquals("batch stride must be >= 0, got -2",
                assertThrows(IllegalArgumentException.class, () -> new MatrixLayout(DType.FP32, 0, 1, -2))
                        .getMessage());
    }
}
