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
 * scratch comes from the backend's workspace allocator and is freed before the call returns.
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
        Tensor scores = att.reshape((long) d.batch() * d.numHeads(), d.seqLen(), d.seqLen());
        try (Tensor q = heads(d, "attention.q"); Tensor k = heads(d, "attention.k"); Tensor v = heads(d, "attention.v");
             Tensor y = heads(d, "attention.y")) {
            gather(qkv, 3 * c, 0, q, d);
            gather(qkv, 3 * c, c, k, d);
            gather(qkv, 3 * c, 2 * c, v, d);
            backend.gemm(q, NONE, k, TRANSPOSE, scores, scale(d), 0);
            rows.causalSoftmax(scores.hostSegment(), (long) d.batch() * d.numHeads() * d.seqLen(), d.seqLen());
            backend.gemm(scores, NONE, v, NONE, y, 1, 0);
            scatter(y, out, c, 0, d);
        }
    }

    /**
     * {@code dv = attᵀ·dy}, {@code datt = dy·vᵀ}, the causal softmax backward into {@code dpreatt},
     * {@code dq = dpreatt·k/√hs}, {@code dk = dpreattᵀ·q/√hs}, scattered into {@code dqkv}.
     */
    void backward(Tensor dout, Tensor qkv, Tensor att, AttentionDims d, Tensor dqkv) {
        int c = d.channels();
        long bh = (long) d.batch() * d.numHeads();
        Tensor probabilities = att.reshape(bh, d.seqLen(), d.seqLen());
        try (Tensor q = heads(d, "attentionBackward.q"); Tensor k = heads(d, "attentionBackward.k");
             Tensor v = heads(d, "attentionBackward.v"); Tensor dy = heads(d, "attentionBackward.dy");
             Tensor dv = heads(d, "attentionBackward.dv");
             Tensor datt = scratch(Shape.of(bh, d.seqLen(), d.seqLen()), "attentionBackward.datt")) {
            gather(qkv, 3 * c, 0, q, d);
            gather(qkv, 3 * c, c, k, d);
            gather(qkv, 3 * c, 2 * c, v, d);
            gather(dout, c, 0, dy, d);
            backend.gemm(dy, NONE, v, TRANSPOSE, datt, 1, 0);
            backend.gemm(probabilities, TRANSPOSE, dy, NONE, dv, 1, 0);
            rows.causalSoftmaxBackward(probabilities.hostSegment(), datt.hostSegment(), bh * d.seqLen(), d.seqLen());
            // dy and v are used up: dq goes into dy, dk into v.
            backend.gemm(datt, NONE, k, NONE, dy, scale(d), 0);
            backend.gemm(datt, TRANSPOSE, q, NONE, v, scale(d), 0);
            scatter(dy, dqkv, 3 * c, 0, d);
            scatter(v, dqkv, 3 * c, c, d);
            scatter(dv, dqkv, 3 * c, 2 * c, d);
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

    /** {@code dst[b·NH + h, t, ·] = src[b, t, offset + h·hs + ·]} for rows of {@code rowLength} in {@code src}. */
    private void gather(Tensor src, int rowLength, int offset, Tensor dst, AttentionDims d) {
        move(src.hostSegment(), rowLength, offset, dst.hostSegment(), d, true);
    }

    /** The inverse of {@link #gather}: {@code dst[b, t, offset + h·hs + ·] = src[b·NH + h, t, ·]}. */
    private void scatter(Tensor src, Tensor dst, int rowLength, int offset, AttentionDims d) {
        move(dst.hostSegment(), rowLength, offset, src.hostSegment(), d, false);
    }

    private void move(MemorySegment rows, int rowLength, int offset, MemorySegment heads, AttentionDims d,
                      boolean toHeads) {
        int t = d.seqLen();
        int nh = d.numHeads();
        int hs = d.headSize();
        long bytes = (long) hs * Float.BYTES;
        parallel.forEach(Parallel.Split.of((long) d.batch() * t, (long) nh * hs), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long b = r / t;
                long position = r % t;
                for (int h = 0; h < nh; h++) {
                    long inRows = (r * rowLength + offset + (long) h * hs) * Float.BYTES;
                    long inHeads = (((b * nh + h) * t) + position) * hs * Float.BYTES;
                    if (toHeads) {
                        MemorySegment.copy(rows, inRows, heads, inHeads, bytes);
                    } else {
                        MemorySegment.copy(heads, inHeads, rows, inRows, bytes);
                    }
                }
            }
        });
    }
}
