package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import java.lang.foreign.MemorySegment;

/**
 * One matrix of a GEMM operand as the product sees it: element {@code (row, col)} is stored at element
 * {@code base + row·ld + col} of {@code segment}, or at {@code base + col·ld + row} when {@code transposed}.
 */
record MatrixView(MemorySegment segment, DType dtype, long base, long ld, boolean transposed) {
    /** Element index of {@code (row, col)}. */
    long index(long row, long col) {
        return transposed ? base + col * ld + row : base + row * ld + col;
    }

    /** The same storage seen transposed. */
    MatrixView transpose() {
        return new MatrixView(segment, dtype, base, ld, !transposed);
    }
}
