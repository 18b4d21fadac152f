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
 *   for pc (kc at a time):
 *     phase 1: pack the B panel op(B)[pc:pc+kc, jc:jc+nc] into kc × NR micro-panels; runs of them over the slots
 *     phase 2: units (≤ mc rows × a run of micro-panels) spread over the slots, each:
 *       pack its A block op(A)[rows, pc:pc+kc] into MR × kc micro-panels
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
    /**
     * Floats between packed B micro-panels beyond their own: the pad keeps micro-panels from starting a power of two
     * apart (256 KiB at kc = 2048), where the packing's writes to all of them at once fought over the same cache sets.
     */
    private static final int PAD = 16;
    /**
     * B micro-panels a unit of {@link #multiplyFewRows} packs at once: their rows are read as runs of
     * {@code 4·NR} floats (four cache lines with AVX2) rather than one line per row of op(B), which a 16-float
     * micro-panel of a row-major weight read with a stride of a whole weight row, latency-bound (on a Zen 3 core:
     * the input gradient of GPT-2's QKV ran at 93-104 GFLOP/s with groups of 2, 124-137 with 4 or 8, 92 with 16).
     */
    private static final int GROUP_PANELS = 4;
    /**
     * Most floats of packed A that all slots share (4 MiB) in the products whose rows are few: a kc block of all
     * of op(A)'s rows must fit for such a product to run that way, and as many kc blocks as fit are packed at once.
     */
    private static final long SHARED_A_FLOATS = 1L << 20;

    private final GemmBlocking blocking;

    BlockedGemm(GemmBlocking blocking) {
        this.blocking = blocking;
    }

    void multiply(Product p, GemmWorkspace workspace, ParallelLoop loop) {
        int mr = blocking.mr();
        int nr = blocking.nr();
        int slots = loop.slots();
        int kc = Math.min(blocking.kc(), p.k());
        int nc = Math.max(nr, blocking.panelFloats() / kc / nr * nr);
        // Row blocks as large as the L2 allows, of equal size; the micro-panels are split too when they are few.
        int mc = roundUp(ceilDiv(p.m(), ceilDiv(p.m(), blocking.mcMax())), mr);
        int rowBlocks = ceilDiv(p.m(), mc);
        if (rowBlocks < UNITS_PER_SLOT * slots && (long) roundUp(p.m(), mr) * kc <= SHARED_A_FLOATS) {
            multiplyFewRows(p, workspace, loop, kc);
            return;
        }
        for (int jc = 0; jc < p.n(); jc += nc) {
            int j0 = jc;
            int cols = Math.min(nc, p.n() - jc);
            int count = ceilDiv(cols, nr);
            int colChunks = Math.min(count, ceilDiv(UNITS_PER_SLOT * slots, rowBlocks));
            int chunkPanels = ceilDiv(count, colChunks);
            int chunks = ceilDiv(count, chunkPanels);
            int packPanels = Math.max(1, ceilDiv(count, UNITS_PER_SLOT * slots));
            for (int pc = 0; pc < p.k(); pc += kc) {
                int p0 = pc;
                int depth = Math.min(kc, p.k() - pc);
                int stride = depth * nr + PAD;
                float[] b = workspace.slot(loop.firstSlot()).bPanel(count * stride);
                // Phase 1: the panel op(B)[pc:pc+depth, jc:jc+cols], runs of micro-panels spread over the slots.
                loop.run(ceilDiv(count, packPanels), (slot, unit) -> {
                    int q0 = unit * packPanels;
                    int rows = Math.min(packPanels * nr, cols - q0 * nr);
                    GemmPacking.pack(p.opBt(), j0 + q0 * nr, rows, p0, depth, nr, stride, b, q0 * stride,
                            workspace.slot(slot).run(GemmPacking.runFloats(rows, nr)));
                });
                // Phase 2: blocks of rows × runs of micro-panels.
                float beta = pc == 0 ? p.beta() : 1f;
                loop.run(rowBlocks * chunks, (slot, unit) -> {
                    int i0 = unit / chunks * mc;
                    int q0 = unit % chunks * chunkPanels;
                    GemmWorkspace.Slot buffers = workspace.slot(slot);
                    computeBlock(p, i0, Math.min(mc, p.m() - i0), j0, p0, depth, q0,
                            Math.min(count, q0 + chunkPanels), stride, b, beta, buffers.aBlock(mc * depth),
                            buffers.tile(mr * nr), buffers.run(GemmPacking.runFloats(mc, mr)));
                });
            }
        }
    }

    /**
     * The product when its rows are too few for every slot to have blocks of them (m of a few hundred: a training
     * step's B·T tokens against a layer's weights): all of op(A)'s rows make one block per kc block, the blocks of
     * a span of depth (at most {@link #SHARED_A_FLOATS} floats, all of K in a training step's layers but the LM
     * head's input gradient) packed in one phase by all the slots together and shared; the units of the second
     * phase are groups of {@link #GROUP_PANELS} B micro-panels. A unit packs its group for one kc block just before
     * the kernels sweep all of A's micro-panels of that block against each micro-panel of it, so the micro-panels
     * are still in L1/L2 and no B panel goes through L3, then moves to the next kc block of the same columns, whose
     * strip of C (m × 4·NR floats) is still in L2. Two phases per span, not two per kc block: each phase ends in a
     * wait for the slowest slot.
     *
     * <pre>
     * for each span of depth:
     *   phase 1: pack op(A)[0:m, span] into MR × kc micro-panels, kc block after kc block; runs of them over the slots
     *   phase 2: units (a group of B micro-panels): for pc in the span (kc at a time): pack the group's
     *            op(B)[pc:pc+kc, columns], then for each of its micro-panels: for each A micro-panel: kernel → tile → C
     * </pre>
     *
     * Every element of C still sums its kc blocks in order of pc, so the result equals the one-phase-per-block
     * loop's bit for bit.
     */
    private void multiplyFewRows(Product p, GemmWorkspace workspace, ParallelLoop loop, int kc) {
        int mr = blocking.mr();
        int nr = blocking.nr();
        int slots = loop.slots();
        int aPanels = ceilDiv(p.m(), mr);
        int bPanels = ceilDiv(p.n(), nr);
        int blockFloats = aPanels * mr * kc;
        int span = (int) Math.max(kc, Math.min(p.k(), SHARED_A_FLOATS / blockFloats * kc));
        int packPanels = Math.max(1, ceilDiv(aPanels, UNITS_PER_SLOT * slots));
        int packUnits = ceilDiv(aPanels, packPanels);
        int groups = ceilDiv(bPanels, GROUP_PANELS);
        for (int k0 = 0; k0 < p.k(); k0 += span) {
            int s0 = k0;
            int spanDepth = Math.min(span, p.k() - k0);
            int blocks = ceilDiv(spanDepth, kc);
            float[] a = workspace.slot(loop.firstSlot()).aBlock(blocks * blockFloats);
            loop.run(blocks * packUnits, (slot, unit) -> {
                int block = unit / packUnits;
                int depth = Math.min(kc, spanDepth - block * kc);
                int i0 = unit % packUnits * packPanels * mr;
                int rows = Math.min(packPanels * mr, p.m() - i0);
                GemmPacking.pack(p.opA(), i0, rows, s0 + block * kc, depth, mr, depth * mr, a,
                        block * blockFloats + i0 * depth, workspace.slot(slot).run(GemmPacking.runFloats(rows, mr)));
            });
            loop.run(groups, (slot, group) -> {
                GemmWorkspace.Slot buffers = workspace.slot(slot);
                float[] b = buffers.bPanel(GROUP_PANELS * kc * nr);
                float[] tile = buffers.tile(mr * nr);
                float[] run = buffers.run(GemmPacking.runFloats(GROUP_PANELS * nr, nr));
                int q0 = group * GROUP_PANELS;
                int panels = Math.min(GROUP_PANELS, bPanels - q0);
                for (int block = 0; block < blocks; block++) {
                    int pc = s0 + block * kc;
                    int depth = Math.min(kc, spanDepth - block * kc);
                    float beta = pc == 0 ? p.beta() : 1f;
                    GemmPacking.pack(p.opBt(), q0 * nr, Math.min(panels * nr, p.n() - q0 * nr), pc, depth, nr,
                            depth * nr, b, 0, run);
                    int ao = block * blockFloats;
                    for (int q = q0; q < q0 + panels; q++) {
                        int j0 = q * nr;
                        int cols = Math.min(nr, p.n() - j0);
                        int bo = (q - q0) * depth * nr;
                        for (int ir = 0; ir < aPanels; ir++) {
                            tile(p.c(), ir * mr, Math.min(mr, p.m() - ir * mr), j0, cols, depth, a,
                                    ao + ir * depth * mr, b, bo, tile, p.alpha(), beta);
                        }
                    }
                }
            });
        }
    }

    /**
     * Rows {@code [i0, i0 + rows)} of C against B micro-panels {@code [q0, q1)} of the packed panel of columns from
     * jc and depth {@code [pc, pc + depth)}, each micro-panel {@code stride} floats apart: C = alpha·A·B + beta·C.
     */
    private void computeBlock(Product p, int i0, int rows, int jc, int pc, int depth, int q0, int q1, int stride,
                              float[] b, float beta, float[] aBlock, float[] tile, float[] run) {
        int mr = blocking.mr();
        int nr = blocking.nr();
        MatrixView c = p.c();
        GemmPacking.pack(p.opA(), i0, rows, pc, depth, mr, depth * mr, aBlock, 0, run);
        for (int q = q0; q < q1; q++) {
            int bo = q * stride;
            int j0 = jc + q * nr;
            int cols = Math.min(nr, p.n() - j0);
            for (int ir = 0; ir * mr < rows; ir++) {
                tile(c, i0 + ir * mr, Math.min(mr, rows - ir * mr), j0, cols, depth, aBlock, ir * depth * mr, b, bo,
                        tile, p.alpha(), beta);
            }
        }
    }

    /**
     * One tile, {@code C[i0:i0+rows, j0:j0+cols] = alpha·A·B + beta·C} of the A micro-panel at {@code ao} and the B
     * micro-panel at {@code bo}: a whole tile goes straight from the kernel's registers into C where the kernel can
     * ({@link GemmKernel#storesIntoC}), else through {@code tile} ({@link #storeTile}).
     */
    private void tile(MatrixView c, int i0, int rows, int j0, int cols, int depth, float[] a, int ao, float[] b,
                      int bo, float[] tile, float alpha, float beta) {
        int mr = blocking.mr();
        if (rows == mr && cols == GemmKernel.NR && GemmKernel.storesIntoC(mr)) {
            GemmKernel.multiplyInto(depth, a, ao, b, bo, c.segment(), c.index(i0, j0) * Float.BYTES,
                    c.ld() * Float.BYTES, alpha, beta);
            return;
        }
        GemmKernel.multiply(mr, depth, a, ao, b, bo, tile);
        storeTile(tile, c, i0, rows, j0, cols, alpha, beta);
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
