package dev.gatun.ops.cpu;

import java.util.Arrays;

/**
 * Copies blocks of the operands into the contiguous, zero-padded micro-panels the {@link GemmKernel}s stream through.
 * One routine serves both operands: an A block is packed from {@code op(A)} in panels of {@code MR} rows, a B panel
 * from {@code op(B)ᵀ} in panels of {@code NR} rows, since a packed B micro-panel {@code [kc][NR]} is exactly a packed
 * panel of {@code op(B)ᵀ}. Element types are widened to fp32 here, once per element and block.
 */
final class GemmPacking {
    private GemmPacking() {
    }

    /**
     * Packs rows {@code [r0, r0 + rows)} × columns {@code [c0, c0 + cols)} of {@code view} into panels of
     * {@code width} rows, panel {@code q} at {@code dstPos + q·panelStride}: element {@code (r, c)} lands at
     * {@code dstPos + (r / width)·panelStride + (c − c0)·width + r % width}. Rows of the last panel past {@code rows}
     * are zero, so the kernels always run full tiles.
     *
     * <p>Memory is read in whole runs along its contiguous direction, widened into {@code run} (at least
     * {@code max(rows, cols)} floats), then spread from there: moving short pieces straight out of the segment cost
     * several times more per element (each access checks the segment).
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
        // A row of the view is contiguous in memory: one run per row, scattered with the panel's stride.
        for (int q = 0; q * width < rows; q++) {
            int panelRows = Math.min(width, rows - q * width);
            int pos = dstPos + q * panelStride;
            for (int r = 0; r < width; r++) {
                if (r < panelRows) {
                    ElementRuns.read(view.segment(), view.dtype(), view.index(r0 + q * width + r, c0), cols, run, 0, 1);
                } else {
                    Arrays.fill(run, 0, cols, 0f);
                }
                for (int c = 0, at = pos + r; c < cols; c++, at += width) {
                    dst[at] = run[c];
                }
            }
        }
    }
}
