package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.ops.OpChecks.AttentionDims;

import java.lang.foreign.MemorySegment;

import static dev.gatun.ops.Transpose.NONE;
import static dev.gatun.ops.Transpose.TRANSPOSE;

/**
 * Causal self-attention of {@link CpuBackend} from batched GEMMs: the heads of {@code q}, {@code k}, {@code v} (and
 * of {@code dout}) are gathered from their strided places in {@code [B, T, ·]} into contiguous scratch tensors
 * {@code [B·NH, T, hs]}, multiplied with the backend's {@link Backend#gemm}, and the results scattered back. The
 * scratch comes from the backend's workspace allocator and is freed before the call returns. With grouped-query
 * heads ({@code NKV < NH}) each query head's scratch holds its group's key and value head, and the backward sums the
 * key and value gradients over each group, in head order.
 */
final class AttentionKernels {
    private final Backend backend;
    private final RowKernels rows;
    private final Parallel parallel;
    private final TensorAllocator workspace;
    private final DeviceStream stream;

    AttentionKernels(Backend backend, RowKernels rows, Parallel parallel, TensorAllocator workspace) {
        this.backend = backend;
        this.rows = rows;
        this.parallel = parallel;
        this.workspace = workspace;
        this.stream = backend.stream();
    }

    /** {@code att = softmax(mask(q·kᵀ/√hs))} per (b, head), {@code out = att·v} with the heads concatenated. */
    void forward(Tensor qkv, AttentionDims d, Tensor out, Tensor att) {
        int c = d.channels();
        int w = d.qkvWidth();
        int g = d.group();
        Tensor scores = att.reshape((long) d.batch() * d.numHeads(), d.seqLen(), d.seqLen());
        try (Tensor q = heads(d, "attention.q"); Tensor k = heads(d, "attention.k"); Tensor v = heads(d, "attention.v");
             Tensor y = heads(d, "attention.y")) {
            gather(qkv, w, 0, 1, q, d);
            gather(qkv, w, c, g, k, d);
            gather(qkv, w, c + d.kvChannels(), g, v, d);
            backend.gemm(q, NONE, k, TRANSPOSE, scores, scale(d), 0);
            rows.causalSoftmax(scores.hostSegment(), (long) d.batch() * d.numHeads() * d.seqLen(), d.seqLen());
            backend.gemm(scores, NONE, v, NONE, y, 1, 0);
            scatter(y, out, c, 0, 1, d);
        }
    }

    /**
     * {@code dv = attᵀ·dy}, {@code datt = dy·vᵀ}, the causal softmax backward into {@code dpreatt},
     * {@code dq = dpreatt·k/√hs}, {@code dk = dpreattᵀ·q/√hs}, scattered into {@code dqkv}.
     */
    void backward(Tensor dout, Tensor qkv, Tensor att, AttentionDims d, Tensor dqkv) {
        int c = d.channels();
        int w = d.qkvWidth();
        int g = d.group();
        long bh = (long) d.batch() * d.numHeads();
        Tensor probabilities = att.reshape(bh, d.seqLen(), d.seqLen());
        try (Tensor q = heads(d, "attentionBackward.q"); Tensor k = heads(d, "attentionBackward.k");
             Tensor v = heads(d, "attentionBackward.v"); Tensor dy = heads(d, "attentionBackward.dy");
             Tensor dv = heads(d, "attentionBackward.dv");
             Tensor datt = scratch(Shape.of(bh, d.seqLen(), d.seqLen()), "attentionBackward.datt")) {
            gather(qkv, w, 0, 1, q, d);
            gather(qkv, w, c, g, k, d);
            gather(qkv, w, c + d.kvChannels(), g, v, d);
            gather(dout, c, 0, 1, dy, d);
            backend.gemm(dy, NONE, v, TRANSPOSE, datt, 1, 0);
            backend.gemm(probabilities, TRANSPOSE, dy, NONE, dv, 1, 0);
            rows.causalSoftmaxBackward(probabilities.hostSegment(), datt.hostSegment(), bh * d.seqLen(), d.seqLen());
            // dy and v are used up: dq goes into dy, dk into v.
            backend.gemm(datt, NONE, k, NONE, dy, scale(d), 0);
            backend.gemm(datt, TRANSPOSE, q, NONE, v, scale(d), 0);
            scatter(dy, dqkv, w, 0, 1, d);
            scatter(v, dqkv, w, c, g, d);
            scatter(dv, dqkv, w, c + d.kvChannels(), g, d);
        }
    }

    private static float scale(AttentionDims d) {
        return (float) (1 / Math.sqrt(d.headSize()));
    }

    private Tensor heads(AttentionDims d, String name) {
        return scratch(Shape.of((long) d.batch() * d.numHeads(), d.seqLen(), d.headSize()), name);
    }

    private Tensor scratch(Shape shape, String name) {
        return Tensor.allocate(workspace, DType.FP32, shape, MemoryCategory.WORKSPACE, name, stream);
    }

    /**
     * {@code dst[b·NH + h, t, ·] = src[b, t, offset + (h/group)·hs + ·]} for rows of {@code rowLength} in
     * {@code src}: with {@code group > 1} each of a group's query heads gets its key or value head.
     */
    private void gather(Tensor src, int rowLength, int offset, int group, Tensor dst, AttentionDims d) {
        MemorySegment rows = src.hostSegment();
        MemorySegment heads = dst.hostSegment();
        long bytes = (long) d.headSize() * Float.BYTES;
        forEachRow(d, (r, firstHead) -> {
            for (int h = 0; h < d.numHeads(); h++) {
                long inRows = r * rowLength + offset + (long) (h / group) * d.headSize();
                MemorySegment.copy(rows, inRows * Float.BYTES, heads, headStart(d, firstHead, h) * Float.BYTES, bytes);
            }
        });
    }

    /**
     * The inverse of {@link #gather}: {@code dst[b, t, offset + k·hs + ·] = Σ_{j<group} src[b·NH + k·group + j, t, ·]},
     * summed in head order (a copy for {@code group = 1}).
     */
    private void scatter(Tensor src, Tensor dst, int rowLength, int offset, int group, AttentionDims d) {
        MemorySegment heads = src.hostSegment();
        MemorySegment rows = dst.hostSegment();
        long bytes = (long) d.headSize() * Float.BYTES;
        forEachRow(d, (r, firstHead) -> {
            for (int k = 0; k < d.numHeads() / group; k++) {
                long inRows = r * rowLength + offset + (long) k * d.headSize();
                MemorySegment.copy(heads, headStart(d, firstHead, k * group) * Float.BYTES, rows,
                        inRows * Float.BYTES, bytes);
                for (int j = 1; j < group; j++) {
                    Lanes.accumulate(rows, inRows, heads, headStart(d, firstHead, k * group + j), d.headSize());
                }
            }
        });
    }

    /** A row {@code r = b·T + t} of {@code [B, T, ·]} and where its head 0 starts in {@code [B·NH, T, hs]}. */
    private interface RowTask {
        void run(long r, long firstHead);
    }

    /** Runs {@code task} on every row {@code (b, t)}, split into tasks by {@link Parallel}. */
    private void forEachRow(AttentionDims d, RowTask task) {
        int t = d.seqLen();
        parallel.forEach(Parallel.Split.of((long) d.batch() * t, (long) d.numHeads() * d.headSize()), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                task.run(r, ((r / t) * d.numHeads() * t + r % t) * d.headSize());
            }
        });
    }

    /** The element where head {@code h} of the row whose head 0 starts at {@code firstHead} starts. */
    private static long headStart(AttentionDims d, long firstHead, int h) {
        return firstHead + (long) h * d.seqLen() * d.headSize();
    }
}
