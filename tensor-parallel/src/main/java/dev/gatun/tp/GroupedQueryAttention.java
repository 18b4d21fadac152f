package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.ops.RotaryFrequencies;

import java.util.HashMap;
import java.util.Map;

/**
 * Llama's self-attention, tensor-parallel: {@code NH} query heads and {@code NKV} key/value heads of size
 * {@code hs = C/NH} (grouped-query attention: query head {@code h} attends with key/value head
 * {@code h/(NH/NKV)}), bias-free projections, and the rotary embedding on the queries and keys. Rank {@code r} of
 * {@code tp} holds the query heads {@code [r·NH/tp, (r+1)·NH/tp)} and the key/value heads
 * {@code [r·NKV/tp, (r+1)·NKV/tp)} — whole groups, so tp must divide {@code NKV} — as one column-parallel
 * {@code qkv_proj} whose local rows are {@code [q_r; k_r; v_r]} of the stacked {@code [Wq; Wk; Wv]
 * [(NH + 2·NKV)·hs, C]}, and the row-parallel {@code o_proj [C, NH·hs]}.
 *
 * <p>Forward: {@code qkv = x·W_qkv,rᵀ}, the rotary embedding on its q and k heads in place, causal attention
 * ({@link Backend#attention(Tensor, int, int, Tensor, Tensor)}), {@code y = all-reduce(out·W_o,rᵀ)}. Backward: the
 * same in reverse, the rotation undone on the gradient of q and k (it is orthogonal). Keeps the rotated
 * {@code qkv}, the probabilities and the heads' output per micro-batch until its backward.
 */
public final class GroupedQueryAttention implements AutoCloseable {
    private final Backend backend;
    private final TensorAllocator allocator;
    private final int channels;
    private final int localHeads;
    private final int localKvHeads;
    private final int headSize;
    private final ColumnParallelLinear qkv;
    private final RowParallelLinear proj;
    private final Tensor cos;
    private final Tensor sin;
    private final Map<Integer, Saved> saved = new HashMap<>();
    /** Between the two halves of a split backward: what {@code o_proj}'s and {@code qkv_proj}'s weight halves read. */
    private final Map<Integer, Tensor[]> pending = new HashMap<>();
    private final boolean recomputeCore;
    /** With sequence parallelism the sequence length T (the input's rows are tokens of whole sequences); else 0. */
    private final int seqLen;
    private final int tp;

    /** What a forward keeps; {@code att} is null when the backward recomputes it. */
    private record Saved(Tensor qkv, Tensor att, Tensor out) {
        void close() {
            qkv.close();
            if (att != null) {
                att.close();
            }
            out.close();
        }
    }

    /**
     * @param maxPositions the longest sequence the rotary tables cover
     * @param name         parameters are {@code name + ".qkv_proj.weight"} and {@code name + ".o_proj.weight"}
     * @throws IllegalArgumentException when {@code NH} does not divide {@code C}, {@code NKV} does not divide
     *                                  {@code NH}, or tp does not divide {@code NKV}
     */
    public GroupedQueryAttention(int channels, int numHeads, int numKvHeads, RotaryFrequencies rotary,
                                 int maxPositions, Mappings mappings, Backend backend, TensorAllocator allocator,
                                 String name, long seed) {
        this(channels, numHeads, numKvHeads, rotary, maxPositions, mappings, backend, allocator, name, seed, 0);
    }

    /**
     * With sequence parallelism when {@code sequenceParallelSeqLen > 0}: the input is this rank's {@code N/tp} token
     * rows {@code [N/tp, C]} of {@code N = B·T} whole sequences of {@code T = sequenceParallelSeqLen}, all-gathered
     * before {@code qkv_proj}, and the output this rank's rows of the reduce-scattered {@code o_proj}.
     */
    public GroupedQueryAttention(int channels, int numHeads, int numKvHeads, RotaryFrequencies rotary,
                                 int maxPositions, Mappings mappings, Backend backend, TensorAllocator allocator,
                                 String name, long seed, int sequenceParallelSeqLen) {
        this(channels, numHeads, numKvHeads, rotary, maxPositions, mappings, backend, allocator, name, seed,
                sequenceParallelSeqLen, false);
    }

    /**
     * @param recomputeCore free the attention probabilities after the forward and compute them again from the saved
     *                      (rotated) q and k in the backward (selective recomputation)
     */
    public GroupedQueryAttention(int channels, int numHeads, int numKvHeads, RotaryFrequencies rotary,
                                 int maxPositions, Mappings mappings, Backend backend, TensorAllocator allocator,
                                 String name, long seed, int sequenceParallelSeqLen, boolean recomputeCore) {
        this.recomputeCore = recomputeCore;
        this.seqLen = sequenceParallelSeqLen;
        this.tp = mappings.group().size();
        if (numHeads < 1 || channels % numHeads != 0) {
            throw new IllegalArgumentException("numHeads=" + numHeads + " must divide channels=" + channels);
        }
        if (numKvHeads < 1 || numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("numKvHeads=" + numKvHeads + " must divide numHeads=" + numHeads
                    + " (each key/value head serves a group of query heads)");
        }
        int rank = mappings.group().rank();
        Shard kv = Shard.of("the key/value heads numKvHeads", numKvHeads, tp, rank);
        this.backend = backend;
        this.allocator = allocator;
        this.channels = channels;
        this.headSize = channels / numHeads;
        if (rotary.headSize() != headSize) {
            throw new IllegalArgumentException("the rotary frequencies are for heads of " + rotary.headSize()
                    + ", the attention's are " + headSize);
        }
        this.localHeads = numHeads / tp;
        this.localKvHeads = kv.size();
        int hs = headSize;
        int q = localHeads * hs;
        int k = localKvHeads * hs;
        long qAll = (long) numHeads * hs;
        long kAll = (long) numKvHeads * hs;
        this.qkv = ColumnParallelLinear.withoutBias(channels, (int) (qAll + 2 * kAll), mappings, backend, allocator,
                name + ".qkv_proj", seed, j -> (int) (j < q ? (long) rank * q + j
                        : j < q + k ? qAll + (long) rank * k + (j - q)
                        : qAll + kAll + (long) rank * k + (j - q - k)), sequenceParallelSeqLen > 0);
        RowParallelLinear o = null;
        Tensor c = null;
        Tensor sn = null;
        boolean ok = false;
        try {
            o = RowParallelLinear.withoutBias((int) qAll, channels, mappings, backend, allocator, name + ".o_proj",
                    seed, sequenceParallelSeqLen > 0);
            var stream = backend.stream();
            c = Tensor.allocate(allocator, DType.FP32, Shape.of(maxPositions, hs / 2), MemoryCategory.WORKSPACE,
                    name + ".rotary.cos", stream);
            c.copyFrom(rotary.cosTable(maxPositions), stream);
            sn = Tensor.allocate(allocator, DType.FP32, Shape.of(maxPositions, hs / 2), MemoryCategory.WORKSPACE,
                    name + ".rotary.sin", stream);
            sn.copyFrom(rotary.sinTable(maxPositions), stream);
            ok = true;
        } finally {
            if (!ok) {
                qkv.close();
                if (o != null) {
                    o.close();
                }
                if (c != null) {
                    c.close();
                }
                if (sn != null) {
                    sn.close();
                }
            }
        }
        this.proj = o;
        this.cos = c;
        this.sin = sn;
    }

    /** The column-parallel {@code [C → (NH + 2·NKV)·hs]} projection, its shard ordered {@code [q_r; k_r; v_r]}. */
    public ColumnParallelLinear qkv() {
        return qkv;
    }

    /** The row-parallel output projection {@code [NH·hs → C]}. */
    public RowParallelLinear proj() {
        return proj;
    }

    /** {@code x [B, T, C]} (kept by reference until the backward) gives a new {@code [B, T, C]}. */
    public Tensor forward(int microBatch, Tensor x) {
        AttentionInput in = AttentionInput.of(x, channels, seqLen, tp);
        long b = in.batch();
        long t = in.seqLen();
        var stream = backend.stream();
        Tensor q = qkv.forward(microBatch, x); // [B, T, W_r], or [N, W_r] under sequence parallelism
        Tensor q3 = q.reshape(b, t, -1);
        Tensor att = null;
        Tensor out = null;
        boolean ok = false;
        try {
            backend.rotary(q3, localHeads + localKvHeads, cos, sin, false, q3);
            att = Tensor.allocate(allocator, DType.FP32, Shape.of(b, localHeads, t, t), MemoryCategory.ACTIVATIONS,
                    "attention.att", stream);
            out = Tensor.allocate(allocator, DType.FP32, Shape.of(b, t, (long) localHeads * headSize),
                    MemoryCategory.ACTIVATIONS, "attention.out", stream);
            backend.attention(q3, localHeads, localKvHeads, out, att);
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
        Tensor q3 = s.qkv().reshape(b, t, -1);
        try (Tensor att = s.att() != null ? null : recomputeProbabilities(q3, b, t);
             Tensor dout = proj.backward(microBatch, dy);
             Tensor dqkv = Tensor.allocate(allocator, DType.FP32, q3.shape(), MemoryCategory.ACTIVATIONS,
                     "attention.dqkv", backend.stream())) {
            backend.attentionBackward(dout, q3, att != null ? att : s.att(), localHeads, localKvHeads, dqkv);
            backend.rotary(dqkv, localHeads + localKvHeads, cos, sin, true, dqkv);
            return qkv.backward(microBatch, dqkv);
        } finally {
            s.close();
        }
    }

    /**
     * The input half of {@link #backward} (zero-bubble schedules): returns a new {@code dX} and keeps, for
     * {@link #backwardWeight}, the heads' output that {@code o_proj} read and the (unrotated) gradient of q, k and v
     * that {@code qkv_proj} reads; {@code dy} is kept by reference, so the caller leaves it live until then. The
     * probabilities and q, k, v are freed here; the gradients equal {@link #backward}'s bit for bit.
     */
    public Tensor backwardInput(int microBatch, Tensor dy) {
        if (pending.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " already waits for its weight gradients in "
                    + "attention");
        }
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in attention");
        }
        long b = s.out().shape().dim(0);
        long t = s.out().shape().dim(1);
        Tensor q3 = s.qkv().reshape(b, t, -1);
        Tensor dqkv = null;
        boolean ok = false;
        try (Tensor att = s.att() != null ? null : recomputeProbabilities(q3, b, t);
             Tensor dout = proj.backwardInput(microBatch, dy)) {
            dqkv = Tensor.allocate(allocator, DType.FP32, q3.shape(), MemoryCategory.ACTIVATIONS, "attention.dqkv",
                    backend.stream());
            backend.attentionBackward(dout, q3, att != null ? att : s.att(), localHeads, localKvHeads, dqkv);
            backend.rotary(dqkv, localHeads + localKvHeads, cos, sin, true, dqkv);
            Tensor dx = qkv.backwardInput(microBatch, dqkv);
            pending.put(microBatch, new Tensor[] {s.out(), dqkv});
            s.qkv().close();
            if (s.att() != null) {
                s.att().close();
            }
            ok = true;
            return dx;
        } finally {
            if (!ok) {
                s.close();
                if (dqkv != null) {
                    dqkv.close();
                }
            }
        }
    }

    /** The weight half: {@code o_proj}'s and {@code qkv_proj}'s gradients from what {@link #backwardInput} kept. */
    public void backwardWeight(int microBatch) {
        Tensor[] p = pending.remove(microBatch);
        if (p == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch
                    + " waits in attention: run backwardInput first");
        }
        try (Tensor out = p[0]; Tensor dqkv = p[1]) {
            proj.backwardWeight(microBatch);
            qkv.backwardWeight(microBatch);
        }
    }

    /** The probabilities again from the saved (rotated) q and k: a new {@code [B, NH/tp, T, T]}. */
    private Tensor recomputeProbabilities(Tensor q3, long b, long t) {
        return new AttentionInput(b, t).probabilities(backend, allocator, q3, localHeads, localKvHeads, headSize);
    }

    /**
     * Frees what the forward of {@code microBatch} saved, as if its backward had run, without touching the gradients
     * (full recomputation runs the forward again before the backward).
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

    /** Frees the parameters, the rotary tables and anything still saved. */
    @Override
    public void close() {
        saved.values().forEach(Saved::close);
        saved.clear();
        pending.values().forEach(p -> {
            p[0].close();
            p[1].close();
        });
        pending.clear();
        cos.close();
        sin.close();
        proj.close();
        qkv.close();
    }
}
