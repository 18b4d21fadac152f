package dev.gatun.ops;

import java.util.Objects;

/**
 * The sizes of one checked, possibly batched GEMM {@code C = alpha·op(A)·op(B) + beta·C} over contiguous row-major
 * tensors, as {@link OpChecks#gemm} derives them: {@code batch} products of {@code op(A) [m, k]} by
 * {@code op(B) [k, n]} into {@code C [m, n]}. The leading dimensions are the stored row lengths ({@code A} is stored
 * {@code [k, m]} when transposed) and the strides are the elements between consecutive batch entries.
 *
 * @param batch the number of products (1 for 2-D tensors)
 * @param m     rows of {@code op(A)} and of {@code C}
 * @param n     columns of {@code op(B)} and of {@code C}
 * @param k     the inner size: columns of {@code op(A)}, rows of {@code op(B)}
 * @param opA   whether {@code A} is used transposed
 * @param opB   whether {@code B} is used transposed
 */
public record GemmDims(int batch, int m, int n, int k, Transpose opA, Transpose opB) {
    public GemmDims {
        Objects.requireNonNull(opA, "opA must not be null");
        Objects.requireNonNull(opB, "opB must not be null");
        if (batch < 0 || m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("GEMM sizes must be >= 0, got batch=" + batch + ", m=" + m + ", n=" + n
                    + ", k=" + k);
        }
    }

    /** The stored row length of {@code A}: {@code k}, or {@code m} when transposed. */
    public int lda() {
        return opA.isTransposed() ? m : k;
    }

    /** The stored row length of {@code B}: {@code n}, or {@code k} when transposed. */
    public int ldb() {
        return opB.isTransposed() ? k : n;
    }

    /** Elements of {@code A} per batch entry: {@code m·k}. */
    public long strideA() {
        return (long) m * k;
    }

    /** Elements of {@code B} per batch entry: {@code k·n}. */
    public long strideB() {
        return (long) k * n;
    }

    /** Elements of {@code C} per batch entry: {@code m·n}. */
    public long strideC() {
        return (long) m * n;
    }
}
