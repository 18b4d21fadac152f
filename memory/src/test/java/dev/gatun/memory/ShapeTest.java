package dev.gatun.memory;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ShapeTest {
    @Test
    void countsElementsAndIndexesFromEitherEnd() {
        Shape s = Shape.of(2, 3, 5);
        assertEquals(30, s.numel());
        assertEquals(3, s.rank());
        assertEquals(5, s.dim(-1));
        assertEquals(2, s.dim(0));
        assertEquals(15, s.outerStride());
        assertEquals("[2, 3, 5]", s.toString());
        assertEquals(Shape.of(2L, 3L, 5L), s);
        assertEquals(Shape.of(2, 3, 5).hashCode(), s.hashCode());
        assertNotEquals(Shape.of(3, 2, 5), s);
        assertEquals(1, Shape.of().numel());
        assertEquals(0, Shape.of(4, 0).numel());
        long[] dims = s.dims();
        dims[0] = 9;
        assertArrayEquals(new long[]{2, 3, 5}, s.dims());
    }

    @Test
    void rejectsNegativeAndOverflowingShapes() {
        assertThrows(IllegalArgumentException.class, () -> Shape.of(2, -1));
        assertThrows(IllegalArgumentException.class, () -> Shape.of(1L << 40, 1L << 40));
        assertThrows(IndexOutOfBoundsException.class, () -> Shape.of(2).dim(1));
        assertThrows(IndexOutOfBoundsException.class, () -> Shape.of(2).dim(-2));
    }
}
