package dev.gatun.ops;

import dev.gatun.memory.DType;
import java.util.Objects;

/**
 * One GEMM, or a strided batch of them, described apart from the buffers it runs on, so that every backend (the
 * pure-Java CPU GEMM, cuBLAS) takes the same description:
 *
 * <pre>{@code C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b]    for b = 0 … batchCount−1}</pre>
 *
 * with {@code op(A)} of shape {@code [m × k]}, {@code op(B)} {@code [k × n]} and {@code C} {@code [m × n]}, all
 * row-major. {@code op(X) = X} for {@link Transpose#NONE}, so {@code A} is stored {@code [m × k]}; for
 * {@link Transpose#TRANSPOSE} {@code op(X) = Xᵀ}, so {@code A} is stored {@code [k × m]} (and {@code B}
 * {@code [n × k]}). The {@link MatrixLayout}s give each operand's element type, offset, leading dimension and batch
 * stride, all in elements.
 *
 * <p>Semantics follow BLAS: products accumulate in fp32 whatever the input types; {@code k = 0} or
 * {@code alpha = 0} gives {@code C = beta·C} without reading {@code A} or {@code B}; {@code beta = 0} overwrites
 * {@code C} without reading it, so NaN or garbage there does not survive. A 16-bit {@code C} is rounded to nearest
 * even once, when the result is stored.
 *
 * <p>The constructor checks everything that does not depend on a buffer: dimensions {@code >= 0}, floating-point
 * element types (fp32, bf16, fp16), each leading dimension at least its stored row length, and that the matrices of
 * a batched {@code C} do not overlap. The buffer sizes the operands need are {@link #aEnd()}, {@link #bEnd()} and
 * {@link #cEnd()} elements.
 *
 * @param transA     whether {@code A} is used transposed
 * @param transB     whether {@code B} is used transposed
 * @param m          rows of {@code op(A)} and {@code C}
 * @param n          columns of {@code op(B)} and {@code C}
 * @param k          columns of {@code op(A)}, rows of {@code op(B)}
 * @param alpha      scale of the product
 * @param beta       scale of the old {@code C}
 * @param a          layout of the stored {@code A}
 * @param b          layout of the stored {@code B}
 * @param c          layout of {@code C}
 * @param batchCount number of products, {@code >= 0}
 */
public record GemmSpec(Transpose transA, Transpose transB, int m, int n, int k, float alpha, float beta,
                       MatrixLayout a, MatrixLayout b, MatrixLayout c, int batchCount) {
    public GemmSpec {
        Objects.requireNonNull(transA, "transA must not be null");
        Objects.requireNonNull(transB, "transB must not be null");
        Objects.requireNonNull(a, "layout of A must not be null");
        Objects.requireNonNull(b, "layout of B must not be null");
        Objects.requireNonNull(c, "layout of C must not be null");
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("m, n and k must be >= 0, got m=" + m + ", n=" + n + ", k=" + k);
        }
        if (batchCount < 0) {
            throw new IllegalArgumentException("batchCount must be >= 0, got " + batchCount);
        }
        requireFloatingPoint("A", a.dtype());
        requireFloatingPoint("B", b.dtype());
        requireFloatingPoint("C", c.dtype());
        if (transA.isTransposed()) {
            requireLd("lda", a.ld(), "m", m, "A stored [k×m] (transposed)");
        } else {
            requireLd("lda", a.ld(), "k", k, "A[m×k] not transposed");
        }
        if (transB.isTransposed()) {
            requireLd("ldb", b.ld(), "k", k, "B stored [n×k] (transposed)");
        } else {
            requireLd("ldb", b.ld(), "n", n, "B[k×n] not transposed");
        }
        requireLd("ldc", c.ld(), "n", n, "C[m×n]");
        if (batchCount > 1 && m > 0 && n > 0) {
            long extent = (long) (m - 1) * c.ld() + n;
            if (c.batchStride() < extent) {
                throw new IllegalArgumentException("strideC=" + c.batchStride() + " must be >= (m-1)·ldc + n = "
                        + extent + " so that the " + batchCount + " matrices of C do not overlap");
            }
        }
        requireAddressable("A", a, batchCount, rows(transA, m, k), cols(transA, m, k));
        requireAddressable("B", b, batchCount, rows(transB, k, n), cols(transB, k, n));
        requireAddressable("C", c, batchCount, m, n);
    }

    /**
     * A single product of densely packed matrices from element 0 with {@code alpha = 1}, {@code beta = 0}: {@code A}
     * and {@code B} of type {@code inputType}, {@code C} of type {@code outputType}. The batch strides are the dense
     * matrix sizes, so {@link #withBatchCount} makes it a batch of consecutive matrices.
     */
    public static GemmSpec of(Transpose transA, Transpose transB, int m, int n, int k, DType inputType,
                              DType outputType) {
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("m, n and k must be >= 0, got m=" + m + ", n=" + n + ", k=" + k);
        }
        Objects.requireNonNull(transA, "transA must not be null");
        Objects.requireNonNull(transB, "transB must not be null");
        MatrixLayout a = MatrixLayout.dense(inputType, rows(transA, m, k), cols(transA, m, k));
        MatrixLayout b = MatrixLayout.dense(inputType, rows(transB, k, n), cols(transB, k, n));
        return new GemmSpec(transA, transB, m, n, k, 1, 0, a, b, MatrixLayout.dense(outputType, m, n), 1);
    }

    /** This GEMM with other scales. */
    public GemmSpec withScale(float alpha, float beta) {
        return new GemmSpec(transA, transB, m, n, k, alpha, beta, a, b, c, batchCount);
    }

    /** This GEMM with other operand layouts. */
    public GemmSpec withLayouts(MatrixLayout a, MatrixLayout b, MatrixLayout c) {
        return new GemmSpec(transA, transB, m, n, k, alpha, beta, a, b, c, batchCount);
    }

    /** This GEMM repeated over a strided batch of {@code batchCount}, with the layouts' batch strides. */
    public GemmSpec withBatchCount(int batchCount) {
        return new GemmSpec(transA, transB, m, n, k, alpha, beta, a, b, c, batchCount);
    }

    /** Rows of {@code A} as stored: {@code m}, or {@code k} when transposed. */
    public int storedRowsA() {
        return rows(transA, m, k);
    }

    /** Columns of {@code A} as stored: {@code k}, or {@code m} when transposed. */
    public int storedColsA() {
        return cols(transA, m, k);
    }

    /** Rows of {@code B} as stored: {@code k}, or {@code n} when transposed. */
    public int storedRowsB() {
        return rows(transB, k, n);
    }

    /** Columns of {@code B} as stored: {@code n}, or {@code k} when transposed. */
    public int storedColsB() {
        return cols(transB, k, n);
    }

    /** Elements the buffer of {@code A} must hold (one past the highest index read; 0 when none is). */
    public long aEnd() {
        return a.end(batchCount, storedRowsA(), storedColsA());
    }

    /** Elements the buffer of {@code B} must hold (one past the highest index read; 0 when none is). */
    public long bEnd() {
        return b.end(batchCount, storedRowsB(), storedColsB());
    }

    /** Elements the buffer of {@code C} must hold (one past the highest index written; 0 when none is). */
    public long cEnd() {
        return c.end(batchCount, m, n);
    }

    /** Floating-point operations of the whole batch, counting a multiply-add as two: {@code 2·m·n·k·batchCount}. */
    public double flops() {
        return 2.0 * m * n * k * batchCount;
    }

    private static int rows(Transpose op, int opRows, int opCols) {
        return op.isTransposed() ? opCols : opRows;
    }

    private static int cols(Transpose op, int opRows, int opCols) {
        return op.isTransposed() ? opRows : opCols;
    }

    private static void requireFloatingPoint(String operand, DType dtype) {
        if (!dtype.isFloatingPoint()) {
            throw new IllegalArgumentException(operand + " has dtype " + dtype.shortName()
                    + ": GEMM operands must be fp32, bf16 or fp16");
        }
    }

    private static void requireAddressable(String operand, MatrixLayout layout, int batchCount, int rows, int cols) {
        try {
            layout.end(batchCount, rows, cols);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(operand + " " + layout + " addresses elements past Long.MAX_VALUE for "
                    + batchCount + " matrices of " + rows + "×" + cols, e);
        }
    }

    private static void requireLd(String name, long ld, String dimName, int dim, String what) {
        if (ld < dim) {
            throw new IllegalArgumentException(name + "=" + ld + " must be >= " + dimName + "=" + dim + " for "
                    + what);
        }
    }
}
