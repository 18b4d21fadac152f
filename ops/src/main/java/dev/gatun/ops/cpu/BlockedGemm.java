package dev.gatun.ops.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * One product {@code C = alpha·op(A)·op(B) + beta·C} ({@code k ≥ 1}, fp32 {@code C}) in the BLIS loop nest:
 *
 * <pre>
 * for jc (nc columns at a time):
 *   phase 1: pack the B panel op(B)[0:k, jc:jc+nc] into kc × NR micro-panels; pieces of rows spread over the slots
 *   phase 2: units (≤ mc rows × a run of micro-panels) spread over the slots, each:
 *     for pc (kc at a time): pack its A block op(A)[rows, pc:pc+kc] into MR × kc micro-panels
 *       for each B micro-panel: for each A micro-panel: kernel → MR × NR tile → C
 * </pre>
 *
 * The first {@code kc} block applies {@code beta}, the later ones add to what the first stored. Every element of C
 * sums its products in the same order whatever the number of slots, so the result does not depend on it.
 */
final class BlockedGemm {
    /** The operands of one product: {@code opA} is {@code op(A)} [m × k], {@code opBt} is {@code op(B)ᵀ} [n × k]. */
    record Product(MatrixView opA, MatrixView opBt, MatrixView c, int m, int n, int k, float alpha, float beta) {
    }

    /** Units per slot that a phase aims for, so that a core slowed by other work takes fewer. */
    private static final int UNITS_PER_SLOT = 4;

    private final GemmBlocking blocking;

    BlockedGemm(GemmBlocking blocking) {
        this.blocking = blocking;
    }

    void multiply(Product p, GemmWorkspace workspace, ParallelLoop loop) {
        int mr = blocking.mr();
        int nr = blocking.nr();
        int kc = blocking.kc();
        int slots = loop.slots();
        int nc = Math.max(nr, blocking.panelFloats() / p.k() / nr * nr);
        int mc = slots == 1 ? blocking.mcMax()
                : Math.clamp(roundUp(ceilDiv(p.m(), UNITS_PER_SLOT * slots), mr), mr, blocking.mcMax());
        int rowBlocks = ceilDiv(p.m(), mc);
        int packRows = Math.clamp(p.k() / (UNITS_PER_SLOT * slots) / 16 * 16, 16, 256);
        int piecesPerBlock = ceilDiv(Math.min(kc, p.k()), packRows);
        for (int jc = 0; jc < p.n(); jc += nc) {
            int j0 = jc;
            int cols = Math.min(nc, p.n() - jc);
            BPanel panel = new BPanel(ceilDiv(cols, nr), nr, kc, p.k());
            float[] b = workspace.slot(loop.firstSlot()).bPanel(panel.floats());
            // Phase 1: the panel in pieces of packRows rows of op(B), so that every slot gets several.
            loop.run(ceilDiv(p.k(), kc) * piecesPerBlock, (slot, unit) -> {
                int pc = unit / piecesPerBlock * kc;
                int p0 = pc + unit % piecesPerBlock * packRows;
                int blockEnd = Math.min(p.k(), pc + kc);
                if (p0 < blockEnd) {
                    GemmPacking.pack(p.opBt(), j0, cols, p0, Math.min(packRows, blockEnd - p0), nr,
                            panel.microPanelStride(pc), b, panel.microPanel(pc, 0) + (p0 - pc) * nr,
                            workspace.slot(slot).run(GemmPacking.runFloats(cols, nr)));
                }
            });
            // Phase 2. Few row blocks (small m): split the micro-panels too, so that every slot has work.
            int colChunks = Math.min(panel.count(), ceilDiv(UNITS_PER_SLOT * slots, rowBlocks));
            int chunkPanels = ceilDiv(panel.count(), colChunks);
            int chunks = ceilDiv(panel.count(), chunkPanels);
            loop.run(rowBlocks * chunks, (slot, unit) -> {
                int i0 = unit / chunks * mc;
                int q0 = unit % chunks * chunkPanels;
                GemmWorkspace.Slot buffers = workspace.slot(slot);
                computeBlock(p, i0, Math.min(mc, p.m() - i0), j0, q0, Math.min(panel.count(), q0 + chunkPanels),
                        panel, b, buffers.aBlock(mc * Math.min(kc, p.k())), buffers.tile(mr * nr),
                        buffers.run(GemmPacking.runFloats(mc, mr)));
            });
        }
    }

    /**
     * Where the micro-panels of a packed B panel lie: kc block by kc block, each block {@code count} micro-panels of
     * {@code [kcBlock][nr]} floats plus {@link #PAD}. The pad keeps micro-panels from starting a power of two apart
     * (256 KiB at kc = 2048), where the packing's writes to all of them at once fought over the same cache sets.
     */
    private record BPanel(int count, int nr, int kc, int k) {
        static final int PAD = 16;

        int microPanelStride(int pc) {
            return Math.min(kc, k - pc) * nr + PAD;
        }

        int microPanel(int pc, int q) {
            return pc / kc * count * (kc * nr + PAD) + q * microPanelStride(pc);
        }

        int floats() {
            return count * (k * nr + ceilDiv(k, kc) * PAD);
        }
    }

    /** Rows {@code [i0, i0 + rows)} of C against B micro-panels {@code [q0, q1)} of the panel starting at column jc. */
    private void computeBlock(Product p, int i0, int rows, int jc, int q0, int q1, BPanel panel, float[] b,
                              float[] aBlock, float[] tile, float[] run) {
        int mr = blocking.mr();
        int nr = blocking.nr();
        MatrixView c = p.c();
        for (int pc = 0; pc < p.k(); pc += blocking.kc()) {
            int kc = Math.min(blocking.kc(), p.k() - pc);
            GemmPacking.pack(p.opA(), i0, rows, pc, kc, mr, kc * mr, aBlock, 0, run);
            float beta = pc == 0 ? p.beta() : 1f;
            for (int q = q0; q < q1; q++) {
                int bo = panel.microPanel(pc, q);
                int j0 = jc + q * nr;
                int cols = Math.min(nr, p.n() - j0);
                for (int ir = 0; ir * mr < rows; ir++) {
                    GemmKernel.multiply(mr, kc, aBlock, ir * kc * mr, b, bo, tile);
                    storeTile(tile, c, i0 + ir * mr, Math.min(mr, rows - ir * mr), j0, cols, p.alpha(), beta);
                }
            }
        }
    }

    /**
     * {@code C[i0 + r, j0 + j] = alpha·tile[r·NR + j] + beta·C[i0 + r, j0 + j]} for {@code r < rows}, {@code j < cols};
     * with {@code beta = 0} C is not read.
     */
    private static void storeTile(float[] tile, MatrixView c, int i0, int rows, int j0, int cols, float alpha,
                                  float beta) {
        MemorySegment segment = c.segment();
        int lanes = GemmKernel.LANES;
        FloatVector betas = FloatVector.broadcast(GemmKernel.SPECIES, beta);
        for (int r = 0; r < rows; r++) {
            long rowOffset = c.index(i0 + r, j0) * Float.BYTES;
            for (int j = 0; j < cols; j += lanes) {
                long offset = rowOffset + (long) j * Float.BYTES;
                FloatVector v = FloatVector.fromArray(GemmKernel.SPECIES, tile, r * GemmKernel.NR + j).mul(alpha);
                if (j + lanes <= cols) {
                    if (beta != 0) {
                        v = FloatVector.fromMemorySegment(GemmKernel.SPECIES, segment, offset, ByteOrder.LITTLE_ENDIAN)
                                .fma(betas, v);
                    }
                    v.intoMemorySegment(segment, offset, ByteOrder.LITTLE_ENDIAN);
                } else {
                    VectorMask<Float> inRange = GemmKernel.SPECIES.indexInRange(j, cols);
                    if (beta != 0) {
                        v = FloatVector.fromMemorySegment(GemmKernel.SPECIES, segment, offset, ByteOrder.LITTLE_ENDIAN,
                                inRange).fma(betas, v);
                    }
                    v.intoMemorySegment(segment, offset, ByteOrder.LITTLE_ENDIAN, inRange);
                }
            }
        }
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    private static int roundUp(int a, int b) {
        return ceilDiv(a, b) * b;
    }
}
