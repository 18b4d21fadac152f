package dev.gatun.ops.cpu;

import java.util.Arrays;
import java.util.stream.IntStream;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Copies blocks of the operands into the contiguous, zero-padded micro-panels the {@link GemmKernel}s stream through.
 * One routine serves both operands: an A block is packed from {@code op(A)} in panels of {@code MR} rows, a B panel
 * from {@code op(B)ᵀ} in panels of {@code NR} rows, since a packed B micro-panel {@code [kc][NR]} is exactly a packed
 * panel of {@code op(B)ᵀ}. Element types are widened to fp32 here, once per element and block.
 */
final class GemmPacking {
    private GemmPacking() {
    }

    /** Columns of the view read from a row at a time when transposing; {@code run} holds one piece per row. */
    private static final int PIECE = 256;
    private static final VectorSpecies<Float> SPECIES = GemmKernel.SPECIES;
    private static final int LANES = SPECIES.length();
    /** Gather indices: element {@code c} of pieces {@code 0 … LANES−1}. */
    private static final int[] PIECE_ROWS = IntStream.range(0, LANES).map(i -> i * PIECE).toArray();

    /** Floats the {@code run} buffer of {@link #pack} needs (the gather checks the indices of masked lanes too). */
    static int runFloats(int rows, int width) {
        return Math.max(rows, (width + LANES - 1) / LANES * LANES * PIECE);
    }

    /**
     * Packs rows {@code [r0, r0 + rows)} × columns {@code [c0, c0 + cols)} of {@code view} into panels of
     * {@code width} rows, panel {@code q} at {@code dstPos + q·panelStride}: element {@code (r, c)} lands at
     * {@code dstPos + (r / width)·panelStride + (c − c0)·width + r % width}. Rows of the last panel past {@code rows}
     * are zero, so the kernels always run full tiles.
     *
     * <p>Memory is read in runs along its contiguous direction into {@code run} ({@link #runFloats} floats), widened
     * there, and moved on from that heap buffer: short accesses straight to the segment cost several times more per
     * element. When the view's rows are contiguous the panel is a transpose: {@code width} rows are read a piece at
     * a time, then each column of the pieces is gathered into one vector and written, so the panel is written in
     * order while the pieces sit in L1. Writing the panel with its stride, one float at a time, ran at a third of the
     * speed (1.2 against 0.45 ns per element for 12-row panels).
     */
    static void pack(MatrixView view, int r0, int rows, int c0, int cols, int width, int panelStride, float[] dst,
                     int dstPos, float[] run) {
        if (view.transposed()) {
            // A column of the view is contiguous in memory: one run per column, cut into the panels.
            for (int c = 0; c < cols; c++) {
                ElementRuns.read(view.segment(), view.dtype(), view.index(r0, c0 + c), rows, run, 0, 1);
                for (int q = 0; q * width < rows; q++) {
                    int panelRows = Math.min(width, rows - q * width);
                    int at = dstPos + q * panelStride + c * width;
                    System.arraycopy(run, q * width, dst, at, panelRows);
                    if (panelRows < width) {
                        Arrays.fill(dst, at + panelRows, at + width, 0f);
                    }
                }
            }
            return;
        }
        for (int q = 0; q * width < rows; q++) {
            int panelRows = Math.min(width, rows - q * width);
            for (int piece = 0; piece < cols; piece += PIECE) {
                int length = Math.min(PIECE, cols - piece);
                for (int r = 0; r < width; r++) {
                    if (r < panelRows) {
                        ElementRuns.read(view.segment(), view.dtype(), view.index(r0 + q * width + r, c0 + piece),
                                length, run, r * PIECE, 1);
                    } else {
                        Arrays.fill(run, r * PIECE, r * PIECE + length, 0f);
                    }
                }
                int at = dstPos + q * panelStride + piece * width;
                for (int g = 0; g < width; g += LANES) {
                    VectorMask<Float> lanes = SPECIES.indexInRange(g, width);
                    for (int c = 0; c < length; c++) {
                        FloatVector.fromArray(SPECIES, run, g * PIECE + c, PIECE_ROWS, 0, lanes)
                                .intoArray(dst, at + c * width + g, lanes);
                    }
                }
            }
        }
    }
}
