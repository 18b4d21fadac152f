package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import dev.gatun.ops.GemmSpec;
import dev.gatun.ops.MatrixLayout;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ForkJoinPool;

/**
 * The CPU backend's GEMM, in pure Java on off-heap (or heap) {@link MemorySegment}s:
 *
 * <pre>{@code C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b]    for b = 0 … batchCount−1}</pre>
 *
 * with {@code op(A)} {@code [m × k]}, {@code op(B)} {@code [k × n]} and {@code C} {@code [m × n]}, row-major, as a
 * {@link GemmSpec} describes them (transposes, fp32/bf16/fp16 element types, offsets, leading dimensions and batch
 * strides, all in elements; elements little-endian, no alignment needed). Products accumulate in fp32; 16-bit inputs
 * are widened exactly, a 16-bit {@code C} is accumulated in an fp32 copy and rounded to nearest even once.
 * {@code beta = 0} overwrites {@code C} without reading it; {@code k = 0} or {@code alpha = 0} gives
 * {@code C = beta·C} without reading {@code A} or {@code B}.
 *
 * <p>Built like BLIS: cache-blocked, packed panels, a register-blocked {@link jdk.incubator.vector.FloatVector}
 * micro-kernel, the work spread over the calling thread and a {@link ForkJoinPool} (one GEMM across the cores, or
 * the matrices of a batch across them when there are enough). Segments of a confined arena are accepted; the product
 * then runs on the calling thread alone. The result does not depend on the number of threads.
 *
 * <p>Thread-safe: concurrent calls each take their own workspace of heap buffers, kept for reuse so that the hot
 * loops never allocate: up to 16 MiB of packed {@code B}, per thread a packed {@code A} block of about 1 MiB, and an
 * fp32 copy of a 16-bit {@code C}.
 */
public final class CpuGemm {
    /** Never started: a segment it may not access is confined to some thread. */
    private static final Thread NOT_AN_OWNER = Thread.ofVirtual().unstarted(() -> { });
    /** Below this many multiply-adds per matrix, a batch with one matrix per slot runs matrix-parallel. */
    private static final long SMALL_PRODUCT = 1L << 22;

    private final ForkJoinPool pool;
    private final GemmBlocking blocking;
    private final BlockedGemm blocked;
    private final ConcurrentLinkedQueue<GemmWorkspace> idleWorkspaces = new ConcurrentLinkedQueue<>();

    /** A GEMM on the {@linkplain ForkJoinPool#commonPool() common pool}. */
    public CpuGemm() {
        this(ForkJoinPool.commonPool());
    }

    /** A GEMM whose work runs on the calling thread and {@code pool}. */
    public CpuGemm(ForkJoinPool pool) {
        this(pool, GemmBlocking.forThisMachine());
    }

    CpuGemm(ForkJoinPool pool, GemmBlocking blocking) {
        this.pool = Objects.requireNonNull(pool, "pool must not be null");
        this.blocking = Objects.requireNonNull(blocking, "blocking must not be null");
        this.blocked = new BlockedGemm(blocking);
    }

    /**
     * Runs the GEMM {@code spec} on the buffers {@code a}, {@code b} and {@code c}, returning when {@code c} holds
     * the result.
     *
     * @throws IllegalArgumentException when a segment is too small for the elements its layout addresses, {@code c}
     *                                  is read-only or overlaps {@code a} or {@code b}; nothing is written then
     * @throws IllegalStateException    when a segment's arena is already closed
     */
    public void gemm(GemmSpec spec, MemorySegment a, MemorySegment b, MemorySegment c) {
        Objects.requireNonNull(spec, "spec must not be null");
        boolean readsInputs = spec.cEnd() > 0 && spec.k() > 0 && spec.alpha() != 0;
        checkSegments(spec, a, b, c, readsInputs);
        if (spec.batchCount() == 0 || spec.m() == 0 || spec.n() == 0) {
            return;
        }
        if (!readsInputs) {
            if (spec.beta() == 1) {
                return;
            }
            for (int item = 0; item < spec.batchCount(); item++) {
                scaleC(spec, c, item);
            }
            return;
        }
        boolean shareable = a.isAccessibleBy(NOT_AN_OWNER) && b.isAccessibleBy(NOT_AN_OWNER)
                && c.isAccessibleBy(NOT_AN_OWNER);
        long multiplyAdds = (long) spec.m() * spec.n() * spec.k();
        long parallelMin = blocking.parallelMin();
        boolean worthSharing = multiplyAdds >= parallelMin || multiplyAdds * spec.batchCount() >= parallelMin;
        ParallelLoop loop = shareable && worthSharing ? ParallelLoop.forCaller(pool) : ParallelLoop.sequential(0);
        int slots = loop.slots();
        boolean matrixParallel = slots > 1 && (spec.batchCount() >= 2 * slots
                || spec.batchCount() >= slots && multiplyAdds < SMALL_PRODUCT);
        GemmWorkspace workspace = idleWorkspaces.poll();
        if (workspace == null) {
            workspace = new GemmWorkspace();
        }
        try {
            workspace.ensureSlots(slots);
            GemmWorkspace ws = workspace;
            if (matrixParallel) {
                loop.run(spec.batchCount(),
                        (slot, item) -> multiply(spec, a, b, c, item, ws, ParallelLoop.sequential(slot)));
            } else {
                for (int item = 0; item < spec.batchCount(); item++) {
                    multiply(spec, a, b, c, item, ws, loop);
                }
            }
        } finally {
            idleWorkspaces.offer(workspace);
        }
    }

    /** Matrix {@code item} of the batch, its slots' buffers from {@code workspace}. */
    private void multiply(GemmSpec spec, MemorySegment a, MemorySegment b, MemorySegment c, int item,
                          GemmWorkspace workspace, ParallelLoop loop) {
        MatrixLayout la = spec.a();
        MatrixLayout lb = spec.b();
        MatrixLayout lc = spec.c();
        MatrixView opA = new MatrixView(a, la.dtype(), la.index(item, 0, 0), la.ld(), spec.transA().isTransposed());
        MatrixView opBt = new MatrixView(b, lb.dtype(), lb.index(item, 0, 0), lb.ld(), !spec.transB().isTransposed());
        MatrixView userC = new MatrixView(c, lc.dtype(), lc.index(item, 0, 0), lc.ld(), false);
        if (lc.dtype() == DType.FP32) {
            blocked.multiply(new BlockedGemm.Product(opA, opBt, userC, spec.m(), spec.n(), spec.k(), spec.alpha(),
                    spec.beta()), workspace, loop);
            return;
        }
        // A 16-bit C accumulates in an fp32 copy, so that it is rounded once and not after every kc block.
        int m = spec.m();
        int n = spec.n();
        float[] copy = workspace.slot(loop.firstSlot()).cCopy(m * n);
        if (spec.beta() != 0) {
            for (int i = 0; i < m; i++) {
                ElementRuns.read(c, lc.dtype(), userC.index(i, 0), n, copy, i * n, 1);
            }
        }
        MatrixView fp32C = new MatrixView(MemorySegment.ofArray(copy), DType.FP32, 0, n, false);
        blocked.multiply(new BlockedGemm.Product(opA, opBt, fp32C, m, n, spec.k(), spec.alpha(), spec.beta()),
                workspace, loop);
        for (int i = 0; i < m; i++) {
            ElementRuns.write(copy, i * n, n, c, lc.dtype(), userC.index(i, 0));
        }
    }

    /** {@code C = beta·C} for matrix {@code item} ({@code beta = 0}: zeros, C not read). */
    private static void scaleC(GemmSpec spec, MemorySegment c, int item) {
        float[] row = new float[spec.n()];
        float beta = spec.beta();
        for (int i = 0; i < spec.m(); i++) {
            long index = spec.c().index(item, i, 0);
            if (beta != 0) {
                ElementRuns.read(c, spec.c().dtype(), index, row.length, row, 0, 1);
                for (int j = 0; j < row.length; j++) {
                    row[j] *= beta;
                }
            }
            ElementRuns.write(row, 0, row.length, c, spec.c().dtype(), index);
        }
    }

    private static void checkSegments(GemmSpec spec, MemorySegment a, MemorySegment b, MemorySegment c,
                                      boolean readsInputs) {
        Objects.requireNonNull(a, "segment of A must not be null");
        Objects.requireNonNull(b, "segment of B must not be null");
        Objects.requireNonNull(c, "segment of C must not be null");
        MemorySegment cRange = range("C", c, spec.c(), spec.cEnd());
        if (cRange.byteSize() > 0 && c.isReadOnly()) {
            throw new IllegalArgumentException("the segment of C is read-only");
        }
        if (readsInputs) {
            MemorySegment aRange = range("A", a, spec.a(), spec.aEnd());
            MemorySegment bRange = range("B", b, spec.b(), spec.bEnd());
            if (cRange.asOverlappingSlice(aRange).isPresent()) {
                throw new IllegalArgumentException("C overlaps A in memory: write the product to a separate buffer");
            }
            if (cRange.asOverlappingSlice(bRange).isPresent()) {
                throw new IllegalArgumentException("C overlaps B in memory: write the product to a separate buffer");
            }
        }
        if ((long) spec.k() * GemmKernel.NR > Integer.MAX_VALUE || (long) spec.m() * spec.n() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("m·n and k·" + GemmKernel.NR + " must stay below 2^31 for the CPU GEMM's"
                    + " buffers, got m=" + spec.m() + ", n=" + spec.n() + ", k=" + spec.k());
        }
    }

    /** The bytes of {@code segment} that {@code layout} addresses up to element {@code end}, checked to exist. */
    private static MemorySegment range(String operand, MemorySegment segment, MatrixLayout layout, long end) {
        if (!segment.scope().isAlive()) {
            throw new IllegalStateException("the segment of " + operand + " is already freed (its arena is closed)");
        }
        int size = layout.dtype().byteSize();
        if (end == 0) {
            return segment.asSlice(0, 0);
        }
        long needed = end * size;
        if (end > Long.MAX_VALUE / size || segment.byteSize() < needed) {
            throw new IllegalArgumentException(operand + " addresses elements [" + layout.offset() + ", " + end
                    + ") of " + layout.dtype().shortName() + " (" + (end > Long.MAX_VALUE / size ? "more than 2^63"
                    : String.valueOf(needed)) + " bytes), but its segment holds " + segment.byteSize() + " bytes");
        }
        return segment.asSlice(layout.offset() * size, needed - layout.offset() * size);
    }
}
