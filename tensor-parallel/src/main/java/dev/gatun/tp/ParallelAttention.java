package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;

import java.util.HashMap;
import java.util.Map;

/**
 * Causal multi-head self-attention, tensor-parallel by heads: rank {@code r} owns heads
 * {@code [r·NH/tp, (r+1)·NH/tp)}, i.e. channels {@code [r·C/tp, (r+1)·C/tp)} of each of q, k and v.
 * {@code qkv} is a {@link ColumnParallelLinear} {@code [C → 3C]} whose full weight has the single-device layout
 * {@code [q (all heads); k; v]} and whose shard on rank {@code r} holds, in this order, the q, k and v rows of its own
 * heads, so {@link Backend#attention} runs on the local {@code [B, T, 3C/tp]} with {@code NH/tp} heads; {@code proj}
 * is a {@link RowParallelLinear} {@code [C → C]} over the same channels. One all-reduce of {@code [B·T, C]} forward
 * and one backward.
 *
 * <p>With {@code recomputeCore} (selective activation recomputation, Korthikanti et al. 2022) the forward keeps only
 * the inputs of the linear layers ({@code qkv}'s input by reference, q/k/v, and the heads' output that {@code proj}
 * reads) and frees the attention probabilities {@code [B, NH/tp, T, T]}, the {@code 5·a·s²·b} part of a block's
 * activations; the backward computes them again with the same kernel from the kept q and k, so the gradients are
 * those of the run that kept them, bit for bit.
 */
public final class ParallelAttention implements AutoCloseable {
    private final int channels;
    private final int localHeads;
    private final int localChannels;
    private final Backend backend;
    private final TensorAllocator allocator;
    private final ColumnParallelLinear qkv;
    private final RowParallelLinear proj;
    private final boolean recomputeCore;
    /** With sequence parallelism the sequence length T (the input's rows are tokens of whole sequences); else 0. */
    private final int seqLen;
    private final int tp;
    private final Map<Integer, Saved> saved = new HashMap<>();
    private final Map<Integer, Pending> pending = new HashMap<>();

    /** Between the two halves of a split backward: what {@code proj}'s and {@code qkv}'s weight gradients read. */
    private record Pending(Tensor out, Tensor dqkv) {
    }

    /** What a forward keeps; {@code att} is null when the backward recomputes it. */
    private record Saved(Tensor qkv, Tensor att, Tensor out) {
        void close() {
            out.close();
            if (att != null) {
                att.close();
            }
            qkv.close();
        }
    }

    /**
     * @param name parameters are {@code name + ".qkv.*"} and {@code name + ".proj.*"}
     * @throws IllegalArgumentException when {@code numHeads} does not divide {@code channels} or tp does not divide
     *                                  {@code numHeads}
     */
    public ParallelAttention(int channels, int numHeads, Mappings mappings, Backend backend,
                             TensorAllocator allocator, String name, long seed) {
        this(channels, numHeads, mappings, backend, allocator, name, seed, false);
    }

    /**
     * @param recomputeCore free the attention probabilities after the forward and compute them again in the
     *                      backward (selective recomputation)
     * @param name          parameters are {@code name + ".qkv.*"} and {@code name + ".proj.*"}
     * @throws IllegalArgumentException when {@code numHeads} does not divide {@code channels} or tp does not divide
     *                                  {@code numHeads}
     */
    public ParallelAttention(int channels, int numHeads, Mappings mappings, Backend backend,
                             TensorAllocator allocator, String name, long seed, boolean recomputeCore) {
        this(channels, numHeads, mappings, backend, allocator, name, seed, recomputeCore, 0);
    }

    /**
     * With sequence parallelism when {@code sequenceParallelSeqLen > 0}: the input is this rank's {@code N/tp} token
     * rows {@code [N/tp, C]} of {@code N = B·T} (T = {@code sequenceParallelSeqLen}), all-gathered before {@code qkv}
     * ({@link ColumnParallelLinear#sequenceParallel}), and the output is this rank's rows of the reduce-scattered
     * projection ({@link RowParallelLinear}); in between, each rank's heads see whole sequences as without it.
     */
    public ParallelAttention(int channels, int numHeads, Mappings mappings, Backend backend,
                             TensorAllocator allocator, String name, long seed, boolean recomputeCore,
                             int sequenceParallelSeqLen) {
        if (sequenceParallelSeqLen < 0) {
            throw new IllegalArgumentException("sequenceParallelSeqLen must be >= 0, got " + sequenceParallelSeqLen);
        }
        this.seqLen = sequenceParallelSeqLen;
        if (numHeads < 1 || channels % numHeads != 0) {
            throw new IllegalArgumentException("numHeads=" + numHeads + " must divide channels=" + channels);
        }
        this.tp = mappings.group().size();
        Shard heads = Shard.of("numHeads", numHeads, tp, mappings.group().rank());
        this.channels = channels;
        this.localHeads = heads.size();
        this.localChannels = channels / tp;
        this.backend = backend;
        this.allocator = allocator;
        this.recomputeCore = recomputeCore;
        int c = localChannels;
        int offset = mappings.group().rank() * c;
        this.qkv = new ColumnParallelLinear(channels, 3 * channels, mappings, backend, allocator, name + ".qkv",
                seed, false, j -> j / c * channels + offset + j % c, seqLen > 0);
        boolean ok = false;
        try {
            this.proj = new RowParallelLinear(channels, channels, mappings, backend, allocator, name + ".proj",
                    seed, seqLen > 0);
            ok = true;
        } finally {
            if (!ok) {
                qkv.close();
            }
        }
    }

    /** The column-parallel {@code [C → 3C]} projection, its shard ordered {@code [q_r; k_r; v_r]}. */
    public ColumnParallelLinear qkv() {
        return qkv;
    }

    /** The row-parallel output projection {@code [C → C]}. */
    public RowParallelLinear proj() {
        return proj;
    }

    /** {@code x [B, T, C]} (kept by reference until the backward) gives a new {@code [B, T, C]}. */
    public Tensor forward(int microBatch, Tensor x) {
        AttentionInput in = AttentionInput.of(x, channels, seqLen, tp);
        long b = in.batch();
        long t = in.seqLen();
        var stream = backend.stream();
        Tensor q = qkv.forward(microBatch, x);
        Tensor att = null;
        Tensor out = null;
        boolean ok = false;
        try {
            att = Tensor.allocate(allocator, DType.FP32, Shape.of(b, localHeads, t, t), MemoryCategory.ACTIVATIONS,
                    "attention.att", stream);
            out = Tensor.allocate(allocator, DType.FP32, Shape.of(b, t, localChannels), MemoryCategory.ACTIVATIONS,
                    "attention.out", stream);
            backend.attention(q.reshape(b, t, 3L * localChannels), localHeads, out, att);
            Tensor y = proj.forward(microBatch, out);
            if (recomputeCore) {
                att.close();
                att = null;
            }
            saved.put(microBatch, new Saved(q, att, out));
            ok = true;
            return y;
        } finally {
            if (!ok) {
                q.close();
                if (att != null) {
                    att.close();
                }
                if (out != null) {
                    out.close();
                }
            }
        }
    }

    /** From {@code dy [B, T, C]} accumulates the parameter gradients and returns a new {@code dX [B, T, C]}. */
    public Tensor backward(int microBatch, Tensor dy) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in attention");
        }
        long b = s.out().shape().dim(0);
        long t = s.out().shape().dim(1);
        try (Tensor q = s.qkv(); Tensor att = s.att() != null ? s.att() : recomputeProbabilities(q, b, t);
             Tensor out = s.out();
             Tensor dout = proj.backward(microBatch, dy);
             Tensor dqkv = Tensor.allocate(allocator, DType.FP32, Shape.of(b, t, 3L * localChannels),
                     MemoryCategory.ACTIVATIONS, "attention.dqkv", backend.stream())) {
            backend.attentionBackward(dout, q.reshape(b, t, 3L * localChannels), att, localHeads, dqkv);
            return qkv.backward(microBatch, dqkv);
        }
    }

    /**
     * The input half of {@link #backward} (zero-bubble schedules): returns a new {@code dX [B, T, C]} and keeps, for
     * {@link #backwardWeight}, the heads' output that {@code proj} read and the gradient of q, k and v that {@code qkv}
     * reads; {@code dy} is kept by reference, so the caller leaves it live until then. The probabilities and q, k, v
     * are freed here. The gradients equal {@link #backward}'s bit for bit.
     */
    public Tensor backwardInput(int microBatch, Tensor dy) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in attention");
        }
        long b = s.out().shape().dim(0);
        long t = s.out().shape().dim(1);
        Tensor dqkv = null;
        boolean ok = false;
        try (Tensor q = s.qkv(); Tensor att = s.att() != null ? s.att() : recomputeProbabilities(q, b, t);
             Tensor dout = proj.backwardInput(microBatch, dy)) {
            dqkv = Tensor.allocate(allocator, DType.FP32, Shape.of(b, t, 3L * localChannels),
                    MemoryCategory.ACTIVATIONS, "attention.dqkv", backend.stream());
            backend.attentionBackward(dout, q.reshape(b, t, 3L * localChannels), att, localHeads, dqkv);
            Tensor dx = qkv.backwardInput(microBatch, dqkv);
            pending.put(microBatch, new Pending(s.out(), dqkv));
            ok = true;
            return dx;
        } finally {
            if (!ok) {
                s.out().close();
                if (dqkv != null) {
                    dqkv.close();
                }
            }
        }
    }

    /** The weight half: {@code proj}'s and {@code qkv}'s parameter gradients from what {@link #backwardInput} kept. */
    public void backwardWeight(int microBatch) {
        Pending p = pending.remove(microBatch);
        if (p == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch
                    + " waits in attention: run backwardInput first");
        }
        try (Tensor out = p.out(); Tensor dqkv = p.dqkv()) {
            proj.backwardWeight(microBatch);
            qkv.backwardWeight(microBatch);
        }
    }

    /** Whether the backward recomputes the attention probabilities (selective recomputation). */
    public boolean recomputesCore() {
        return recomputeCore;
    }

    /** The attention probabilities of {@code q} again, by the forward's own kernel (its output goes unused). */
    private Tensor recomputeProbabilities(Tensor q, long b, long t) {
        return new AttentionInput(b, t).probabilities(backend, allocator, q.reshape(b, t, 3L * localChannels),
                localHeads, localHeads, localChannels / localHeads);
    }

    /**
     * Frees what the forward of {@code microBatch} saved, as if its backward had run, without touching the
     * gradients (full recomputation runs the forward again before the backward).
     *
     * @throws IllegalStateException when no forward of {@code microBatch} is in flight
     */
    public void discard(int microBatch) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in attention");
        }
        s.close();
        proj.discard(microBatch);
        qkv.discard(microBatch);
    }

    /** Frees the parameters and any saved activations. */
    @Override
    public void close() {
        saved.values().forEach(Saved::close);
        saved.clear();
        pending.values().forEach(p -> {
            p.out().close();
            p.dqkv().close();
        });
        pending.clear();
        proj.close();
        qkv.close();
    }
}
