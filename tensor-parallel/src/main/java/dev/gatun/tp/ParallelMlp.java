package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;

import java.util.HashMap;
import java.util.Map;

/**
 * GPT-2 MLP, tensor-parallel: {@code Y = GELU(X·W_fcᵀ + b_fc)·W_projᵀ + b_proj} with {@code fc} a
 * {@link ColumnParallelLinear} {@code [h → 4h]} (rank {@code r} owns hidden units {@code [r·4h/tp, (r+1)·4h/tp)}) and
 * {@code proj} a {@link RowParallelLinear} {@code [4h → h]} over the same units. One all-reduce of {@code [N, h]}
 * forward (g, in {@code proj}) and one backward (f, in {@code fc}).
 */
public final class ParallelMlp implements AutoCloseable {
    private final Backend backend;
    private final TensorAllocator allocator;
    private final ColumnParallelLinear fc;
    private final RowParallelLinear proj;
    private final Map<Integer, Saved> saved = new HashMap<>();
    /** Between the two halves of a split backward: the pre-activation's gradient and the activation. */
    private final Map<Integer, Saved> pending = new HashMap<>();

    private record Saved(Tensor preActivation, Tensor activation) {
    }

    /**
     * @param name parameters are {@code name + ".fc.*"} and {@code name + ".proj.*"}
     * @throws IllegalArgumentException when tp does not divide {@code 4·hidden}
     */
    public ParallelMlp(int hidden, Mappings mappings, Backend backend, TensorAllocator allocator, String name,
                       long seed) {
        this(hidden, mappings, backend, allocator, name, seed, false);
    }

    /**
     * @param sequenceParallel whether the input and output are this rank's {@code N/tp} rows (Megatron's sequence
     *                         parallelism): all-gathered before {@code fc}, reduce-scattered after {@code proj}
     */
    public ParallelMlp(int hidden, Mappings mappings, Backend backend, TensorAllocator allocator, String name,
                       long seed, boolean sequenceParallel) {
        this.backend = backend;
        this.allocator = allocator;
        this.fc = sequenceParallel
                ? ColumnParallelLinear.sequenceParallel(hidden, 4 * hidden, mappings, backend, allocator, name + ".fc",
                seed)
                : new ColumnParallelLinear(hidden, 4 * hidden, mappings, backend, allocator, name + ".fc", seed, false);
        boolean ok = false;
        try {
            this.proj = new RowParallelLinear(4 * hidden, hidden, mappings, backend, allocator, name + ".proj",
                    seed, sequenceParallel);
            ok = true;
        } finally {
            if (!ok) {
                fc.close();
            }
        }
    }

    /** The column-parallel {@code [h → 4h]} layer. */
    public ColumnParallelLinear fc() {
        return fc;
    }

    /** The row-parallel {@code [4h → h]} layer. */
    public RowParallelLinear proj() {
        return proj;
    }

    /** {@code x [N, h]} (kept by reference until the backward) gives a new {@code [N, h]}; the caller closes it. */
    public Tensor forward(int microBatch, Tensor x) {
        Tensor pre = fc.forward(microBatch, x);
        Tensor act = Tensor.allocate(allocator, DType.FP32, pre.shape(), MemoryCategory.ACTIVATIONS,
                "mlp.gelu", backend.stream());
        backend.gelu(pre, act);
        saved.put(microBatch, new Saved(pre, act));
        return proj.forward(microBatch, act);
    }

    /** From {@code dy [N, h]} accumulates the parameter gradients and returns a new {@code dX [N, h]}. */
    public Tensor backward(int microBatch, Tensor dy) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in the MLP");
        }
        try (Tensor pre = s.preActivation(); Tensor act = s.activation(); Tensor dact = proj.backward(microBatch, dy)) {
            backend.geluBackward(pre, dact, act); // the activation is dead once proj's backward has run
            return fc.backward(microBatch, act);
        }
    }

    /**
     * The input half of {@link #backward} (zero-bubble schedules): returns a new {@code dX [N, h]} and keeps, for
     * {@link #backwardWeight}, the activation {@code proj} read and the pre-activation gradient {@code fc} reads (the
     * GELU backward writes it to a tensor of its own, since the activation must outlive it); {@code dy} is kept by
     * reference, so the caller leaves it live until then. The gradients equal {@link #backward}'s bit for bit.
     */
    public Tensor backwardInput(int microBatch, Tensor dy) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in the MLP");
        }
        Tensor dpre = null;
        boolean ok = false;
        try (Tensor pre = s.preActivation(); Tensor dact = proj.backwardInput(microBatch, dy)) {
            dpre = Tensor.allocate(allocator, DType.FP32, pre.shape(), MemoryCategory.ACTIVATIONS, "mlp.dfc",
                    backend.stream());
            backend.geluBackward(pre, dact, dpre);
            Tensor dx = fc.backwardInput(microBatch, dpre);
            pending.put(microBatch, new Saved(dpre, s.activation()));
            ok = true;
            return dx;
        } finally {
            if (!ok) {
                s.activation().close();
                if (dpre != null) {
                    dpre.close();
                }
            }
        }
    }

    /** The weight half: {@code proj}'s and {@code fc}'s parameter gradients from what {@link #backwardInput} kept. */
    public void backwardWeight(int microBatch) {
        Saved p = pending.remove(microBatch);
        if (p == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch
                    + " waits in the MLP: run backwardInput first");
        }
        try (Tensor dpre = p.preActivation(); Tensor act = p.activation()) {
            proj.backwardWeight(microBatch);
            fc.backwardWeight(microBatch);
        }
    }

    /**
     * Frees what the forward of {@code microBatch} saved, as if its backward had run, without touching the
     * gradients (activation recomputation runs the forward again before the backward).
     *
     * @throws IllegalStateException when no forward of {@code microBatch} is in flight
     */
    public void discard(int microBatch) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in the MLP");
        }
        s.activation().close();
        s.preActivation().close();
        proj.discard(microBatch);
        fc.discard(microBatch);
    }

    /** Frees the parameters and any saved activations. */
    @Override
    public void close() {
        saved.values().forEach(s -> {
            s.activation().close();
            s.preActivation().close();
        });
        saved.clear();
        pending.values().forEach(s -> {
            s.activation().close();
            s.preActivation().close();
        });
        pending.clear();
        proj.close();
        fc.close();
    }
}
