package dev.gatun.ops;

/** Whether a GEMM operand is used as stored ({@code op(X) = X}) or transposed ({@code op(X) = Xᵀ}). */
public enum Transpose {
    /** {@code op(X) = X}. */
    NONE,
    /** {@code op(X) = Xᵀ}. */
    TRANSPOSE;

    /** Whether the operand is transposed. */
    public boolean isTransposed() {
        return this == TRANSPOSE;
    }
}
