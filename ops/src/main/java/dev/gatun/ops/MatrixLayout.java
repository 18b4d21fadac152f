package dev.gatun.ops;

import dev.gatun.memory.DType;
import java.util.Objects;

/**
 * Where the row-major matrices of one GEMM operand lie in a buffer: the element type, the element index of the first
 * matrix ({@code offset}), the leading dimension {@code ld} (elements from one row to the next) and the batch stride
 * (elements from one matrix of a strided batch to the next). Element {@code (i, j)} of matrix {@code b} of the batch
 * is element {@code offset + b·batchStride + i·ld + j} of the buffer.
 *
 * <p>A layout describes the matrix as <em>stored</em>; whether a GEMM uses it transposed is the
 * {@link GemmSpec}'s business, which also checks {@code ld} against the stored row length.
 *
 * @param dtype       element type
 * @param offset      element index of element (0, 0) of the first matrix, {@code >= 0}
 * @param ld          elements from one row to the next, {@code >= 1}
 * @param batchStride elements from one matrix of the batch to the next, {@code >= 0} (0: every batch entry reads the
 *                    same matrix)
 */
public record MatrixLayout(DType dtype, long offset, long ld, long batchStride) {
    public MatrixLayout {
        Objects.requireNonNull(dtype, "dtype must not be null");
        if (offset < 0) {
            throw new IllegalArgumentException("offset must be >= 0, got " + offset);
        }
        if (ld < 1) {
            throw new IllegalArgumentException("leading dimension must be >= 1, got " + ld);
        }
        if (batchStride < 0) {
            throw new IllegalArgumentException("batch stride must be >= 0, got " + batchStride);
        }
    }

    /**
     * Densely packed {@code rows × cols} matrices from element 0: {@code ld = cols} (at least 1) and
     * {@code batchStride = rows·cols}.
     */
    public static MatrixLayout dense(DType dtype, int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("matrix dimensions must be >= 0, got " + rows + "×" + cols);
        }
        return new MatrixLayout(dtype, 0, Math.max(1, cols), (long) rows * cols);
    }

    /** This layout starting at element {@code offset} instead. */
    public MatrixLayout withOffset(long offset) {
        return new MatrixLayout(dtype, offset, ld, batchStride);
    }

    /** Element index of element {@code (row, col)} of matrix {@code batch}. */
    public long index(long batch, long row, long col) {
        return offset + batch * batchStride + row * ld + col;
    }

    /**
     * One past the highest element index that {@code batchCount} stored matrices of {@code rows × cols} address,
     * i.e. the number of elements a buffer must hold; 0 when there is no element at all.
     *
     * @throws ArithmeticException when that index exceeds {@code Long.MAX_VALUE}
     */
    public long end(int batchCount, int rows, int cols) {
        if (batchCount == 0 || rows == 0 || cols == 0) {
            return 0;
        }
        // Exact arithmetic: a layout whose last element lies past Long.MAX_VALUE fits no buffer.
        long last = Math.addExact(offset, Math.addExact(Math.multiplyExact(batchCount - 1L, batchStride),
                Math.addExact(Math.multiplyExact(rows - 1L, ld), cols - 1L)));
        return Math.addExact(last, 1);
    }
}
