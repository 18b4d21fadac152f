package dev.gatun.memory;

import java.util.Arrays;

/**
 * The dimensions of a row-major tensor, outermost first. A shape of rank 0 is a scalar (one element). Every
 * dimension is ≥ 0 and the element count must fit in a {@code long}.
 */
public final class Shape {
    private final long[] dims;
    private final long numel;

    private Shape(long[] dims) {
        long n = 1;
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] < 0) {
                throw new IllegalArgumentException("dimension " + i + " of " + Arrays.toString(dims) + " is negative");
            }
            try {
                n = Math.multiplyExact(n, dims[i]);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("shape " + Arrays.toString(dims) + " has more than 2^63 elements", e);
            }
        }
        this.dims = dims;
        this.numel = n;
    }

    /** A shape with the given dimensions, outermost first. */
    public static Shape of(long... dims) {
        return new Shape(dims.clone());
    }

    /** A shape with the given dimensions, outermost first. */
    public static Shape of(int... dims) {
        return new Shape(Arrays.stream(dims).asLongStream().toArray());
    }

    /** The number of dimensions. */
    public int rank() {
        return dims.length;
    }

    /** Dimension {@code i}; negative {@code i} counts from the end ({@code -1} is the innermost). */
    public long dim(int i) {
        int j = i < 0 ? dims.length + i : i;
        if (j < 0 || j >= dims.length) {
            throw new IndexOutOfBoundsException("dimension " + i + " of a rank-" + dims.length + " shape " + this);
        }
        return dims[j];
    }

    /** The dimensions, outermost first (a copy). */
    public long[] dims() {
        return dims.clone();
    }

    /** The number of elements: the product of the dimensions (1 for a scalar). */
    public long numel() {
        return numel;
    }

    /** Elements per step of the outermost dimension: {@code numel / dim(0)} (1 for a scalar). */
    long outerStride() {
        long stride = 1;
        for (int i = 1; i < dims.length; i++) {
            stride *= dims[i];
        }
        return stride;
    }

    /** This shape with the outermost dimension replaced by {@code outer}. */
    Shape withOuter(long outer) {
        long[] d = dims.clone();
        d[0] = outer;
        return new Shape(d);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Shape s && Arrays.equals(dims, s.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    /** Printed as {@code [2, 3, 4]}. */
    @Override
    public String toString() {
        return Arrays.toString(dims);
    }
}
