package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.stream.IntStream;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
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
    /** Four floats: the unit of the fp32 paths, which every vector width here holds whole. */
    private static final VectorSpecies<Float> QUAD = FloatVector.SPECIES_128;
    private static final ByteOrder LITTLE = ByteOrder.LITTLE_ENDIAN;
    /**
     * The two stages of a 4 × 4 transpose as two-vector rearranges (an index of 4 or more takes lane index − 4 of
     * the second vector): interleave the low or high halves of two rows, then take the low or high pairs of two
     * interleaved vectors.
     */
    private static final VectorShuffle<Float> LOW_HALVES = VectorShuffle.fromValues(QUAD, 0, 4, 1, 5);
    private static final VectorShuffle<Float> HIGH_HALVES = VectorShuffle.fromValues(QUAD, 2, 6, 3, 7);
    private static final VectorShuffle<Float> LOW_PAIRS = VectorShuffle.fromValues(QUAD, 0, 1, 4, 5);
    private static final VectorShuffle<Float> HIGH_PAIRS = VectorShuffle.fromValues(QUAD, 2, 3, 6, 7);

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
     * <p>fp32 panels (of a width that is a multiple of four, as every tile's is) are moved with vector loads straight
     * from the segment ({@link #packRunsFp32}, {@link #packTransposingFp32}). 16-bit elements are read in runs along
     * their contiguous direction into {@code run} ({@link #runFloats} floats), widened
     * there, and moved on from that heap buffer: short accesses straight to the segment cost several times more per
     * element. When the view's rows are contiguous the panel is a transpose: {@code width} rows are read a piece at
     * a time, then each column of the pieces is gathered into one vector and written, so the panel is written in
     * order while the pieces sit in L1. Writing the panel with its stride, one float at a time, ran at a third of the
     * speed (1.2 against 0.45 ns per element for 12-row panels).
     */
    static void pack(MatrixView view, int r0, int rows, int c0, int cols, int width, int panelStride, float[] dst,
                     int dstPos, float[] run) {
        if (view.dtype() == DType.FP32 && width % 4 == 0) {
            if (view.transposed()) {
                packRunsFp32(view, r0, rows, c0, cols, width, panelStride, dst, dstPos);
            } else {
                packTransposingFp32(view, r0, rows, c0, cols, width, panelStride, dst, dstPos);
            }
            return;
        }
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

    /**
     * {@link #pack} of fp32 when a column of the view is contiguous: each column of a panel is one run of
     * {@code width} floats, moved with vector loads straight from the segment, column by column, every full panel
     * of a column in turn (so the reads run along memory); a short last panel is moved one float at a time. Per
     * 16-float run a {@code MemorySegment.copy} took 13 ns; the vectors take a fraction of that.
     */
    private static void packRunsFp32(MatrixView view, int r0, int rows, int c0, int cols, int width, int panelStride,
                                     float[] dst, int dstPos) {
        MemorySegment segment = view.segment();
        long columnBytes = view.ld() * Float.BYTES;
        long first = view.index(r0, c0) * Float.BYTES;
        int fullPanels = rows / width;
        boolean wide = width % LANES == 0;
        // A panel narrower than a 512-bit vector (AVX-512's 12 rows): one masked move, which AVX-512 does natively
        // (0.20 against 0.57 ns/element by quarters for a 64 × 64 operand on a Zen 5); AVX2 keeps the quarters.
        boolean masked = width < LANES && SPECIES.vectorBitSize() >= 512;
        VectorMask<Float> head = SPECIES.indexInRange(0, width);
        for (int c = 0; c < cols; c++) {
            long column = first + c * columnBytes;
            int to = dstPos + c * width;
            for (int q = 0; q < fullPanels; q++) {
                long from = column + (long) q * width * Float.BYTES;
                int at = to + q * panelStride;
                if (wide) {
                    for (int r = 0; r < width; r += LANES) {
                        FloatVector.fromMemorySegment(SPECIES, segment, from + (long) r * Float.BYTES, LITTLE)
                                .intoArray(dst, at + r);
                    }
                } else if (masked) {
                    FloatVector.fromMemorySegment(SPECIES, segment, from, LITTLE, head).intoArray(dst, at, head);
                } else {
                    for (int r = 0; r < width; r += 4) {
                        FloatVector.fromMemorySegment(QUAD, segment, from + (long) r * Float.BYTES, LITTLE)
                                .intoArray(dst, at + r);
                    }
                }
            }
            int shortRows = rows - fullPanels * width;
            if (shortRows > 0) {
                long from = column + (long) fullPanels * width * Float.BYTES;
                int at = to + fullPanels * panelStride;
                int r = 0;
                for (; r + 4 <= shortRows; r += 4) {
                    FloatVector.fromMemorySegment(QUAD, segment, from + (long) r * Float.BYTES, LITTLE)
                            .intoArray(dst, at + r);
                }
                for (; r < shortRows; r++) {
                    dst[at + r] = segment.get(ElementRuns.FP32, from + (long) r * Float.BYTES);
                }
                Arrays.fill(dst, at + shortRows, at + width, 0f);
            }
        }
    }

    /**
     * {@link #pack} of fp32 when the view's rows are contiguous: the panel is a transpose, done four rows × four
     * columns at a time in registers (four 4-float loads straight from the segment, two stages of rearranges, four
     * stores into the panel, in order). Measured on a Zen 3 core: 0.3 ns per element, against 1.0 for gathering the
     * panel's columns out of a staged copy of the rows with 16-row panels, and 6.9 with 4-row panels (a gather
     * narrower than the vector runs as Java code, not as one instruction). Columns past the last multiple of four,
     * and rows past the last multiple of four of a short last panel, are moved one at a time.
     */
    private static void packTransposingFp32(MatrixView view, int r0, int rows, int c0, int cols, int width,
                                            int panelStride, float[] dst, int dstPos) {
        MemorySegment segment = view.segment();
        long rowBytes = view.ld() * Float.BYTES;
        int quadCols = cols & ~3;
        for (int q = 0; q * width < rows; q++) {
            int panelRows = Math.min(width, rows - q * width);
            int at = dstPos + q * panelStride;
            int g = 0;
            for (; g + 4 <= panelRows; g += 4) {
                long offset = view.index(r0 + q * width + g, c0) * Float.BYTES;
                for (int c = 0; c < quadCols; c += 4) {
                    long o = offset + (long) c * Float.BYTES;
                    FloatVector row0 = FloatVector.fromMemorySegment(QUAD, segment, o, LITTLE);
                    FloatVector row1 = FloatVector.fromMemorySegment(QUAD, segment, o + rowBytes, LITTLE);
                    FloatVector row2 = FloatVector.fromMemorySegment(QUAD, segment, o + 2 * rowBytes, LITTLE);
                    FloatVector row3 = FloatVector.fromMemorySegment(QUAD, segment, o + 3 * rowBytes, LITTLE);
                    FloatVector low01 = row0.rearrange(LOW_HALVES, row1);
                    FloatVector high01 = row0.rearrange(HIGH_HALVES, row1);
                    FloatVector low23 = row2.rearrange(LOW_HALVES, row3);
                    FloatVector high23 = row2.rearrange(HIGH_HALVES, row3);
                    int to = at + c * width + g;
                    low01.rearrange(LOW_PAIRS, low23).intoArray(dst, to);
                    low01.rearrange(HIGH_PAIRS, low23).intoArray(dst, to + width);
                    high01.rearrange(LOW_PAIRS, high23).intoArray(dst, to + 2 * width);
                    high01.rearrange(HIGH_PAIRS, high23).intoArray(dst, to + 3 * width);
                }
                for (int c = quadCols; c < cols; c++) {
                    for (int r = g; r < g + 4; r++) {
                        dst[at + c * width + r] = segment.get(ElementRuns.FP32,
                                view.index(r0 + q * width + r, c0 + c) * Float.BYTES);
                    }
                }
            }
            for (int c = 0; c < cols; c++) {
                for (int r = g; r < panelRows; r++) {
                    dst[at + c * width + r] = segment.get(ElementRuns.FP32,
                            view.index(r0 + q * width + r, c0 + c) * Float.BYTES);
                }
                Arrays.fill(dst, at + c * width + panelRows, at + (c + 1) * width, 0f);
            }
        }
    }
}
