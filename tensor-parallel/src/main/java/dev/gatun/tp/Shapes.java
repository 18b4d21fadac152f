package dev.gatun.tp;

import dev.gatun.memory.Shape;

/** Shape arithmetic the layers share. */
final class Shapes {
    private Shapes() {
    }

    /** {@code shape} with its last dimension replaced by {@code last}. */
    static Shape withLast(Shape shape, long last) {
        long[] dims = shape.dims();
        dims[dims.length - 1] = last;
        return Shape.of(dims);
    }
}
