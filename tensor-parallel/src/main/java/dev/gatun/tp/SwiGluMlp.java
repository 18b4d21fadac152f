package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;

import java.util.HashMap;
import java.util.Map;

/**
 * Llama's MLP, tensor-parallel: {@code y = W2·(silu(W1·x) ⊙ W3·x)} with {@code W1, W3 [F, C]} column-parallel and
 * {@code W2 [C, F]} row-parallel, no biases. Rank {@code r} holds rows {@code [r·F/tp, (r+1)·F/tp)} of {@code W1}
 * and of {@code W3} as one {@code gate_up_proj} (local rows {@code [W1_r; W3_r]} of the stacked {@code [W1; W3]
 * [2F, C]}), so one GEMM gives the fused {@code [gate | up]} that {@link Backend#swiglu} reads; {@code down_proj} is
 * {@code W2}'s columns {@code r}. Backward: {@link Backend#swigluBackward} between the two layers' backwards.
 */
public final class SwiGluMlp implements AutoCloseable {
    private final Backend backend;
    private final TensorAllocator allocator;
    private final ColumnParallelLinear gateUp;
    private final RowParallelLinear down;
    private final Map<Integer, Saved> saved = new HashMap<>();
    /** Between the two halves of a split backward: the gradient of gate|up and the activation. */
    private final Map<Integer, Saved> pending = new HashMap<>();

    private record Saved(Tensor gateUp, Tensor activation) {
        void close() {
            gateUp.close();
            activation.close();
        }
    }

    /**
     * @param hidden the width {@code F} of the gate and the up projection
     * @param name   parameters are {@code name + ".gate_up_proj.weight"} and {@code name + ".down_proj.weight"}
     * @throws IllegalArgumentException when tp does not divide {@code F}
     */
    public SwiGluMlp(int channels, int hidden, Mappings mappings, Backend backend, TensorAllocator allocator,
                     String name, long seed) {
        this(channels, hidden, mappings, backend, allocator, name, seed, false);
    }

    /**
     * @param sequenceParallel whether the input and output are this rank's token rows (Megatron's sequence
     *                         parallelism): all-gathered before {@code gate_up_proj}, reduce-scattered after
     *                         {@code down_proj}
     */
    public SwiGluMlp(int channels, int hidden, Mappings mappings, Backend backend, TensorAllocator allocator,
                     String name, long seed, boolean sequenceParallel) {
        int tp = mappings.group().size();
        int rank = mappings.group().rank();
        int local = Shard.of("the MLP's hidden width", hidden, tp, rank).size();
        this.backend = backend;
        this.allocator = allocator;
        this.gateUp = ColumnParallelLinear.withoutBias(channels, 2 * hidden, mappings, backend, allocator,
                name + ".gate_up_proj", seed, j -> j < local ? rank * local + j : hidden + rank * local + (j - local),
                sequenceParallel);
        boolean ok = false;
        try {
            this.down = RowParallelLinear.withoutBias(hidden, channels, mappings, backend, allocator,
                    name + ".down_proj", seed, sequenceParallel);
            ok = true;
        } finally {
            if (!ok) {
                gateUp.close();
            }
        }
    }

    /** The column-parallel {@code [C → 2F]} projection, its shard ordered {@code [W1_r; W3_r]}. */
    public ColumnParallelLinear gateUp() {
        return gateUp;
    }

    /** The row-parallel {@code [F → C]} projection. */
    public RowParallelLinear down() {
        return down;
    }

    /** {@code x [..., C]} (kept by reference until the backward) gives a new {@code [..., C]}. */
    public Tensor forward(int microBatch, Tensor x) {
        Tensor gu = gateUp.forward(microBatch, x);
        Tensor act = null;
        boolean ok = false;
        try {
            long[] dims = gu.shape().dims();
            dims[dims.length - 1] /= 2;
            act = Tensor.allocate(allocator, DType.FP32, dev.gatun.memory.Shape.of(dims), MemoryCategory.ACTIVATIONS,
                    "mlp.swiglu", backend.stream());
            backend.swiglu(gu, act);
            Tensor y = down.forward(microBatch, act);
            saved.put(microBatch, new Saved(gu, act));
            ok = true;
            return y;
        } finally {
            if (!ok) {
                gu.close();
                if (act != null) {
                    act.close();
                }
            }
        }
    }

    /** From {@code dy [..., C]} accumulates the parameter gradients and returns a new {@code dX [..., C]}. */
    public Tensor backward(int microBatch, Tensor dy) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in the MLP");
        }
        try (Tensor dact = down.backward(microBatch, dy);
             Tensor dgu = Tensor.allocate(allocator, DType.FP32, s.gateUp().shape(), MemoryCategory.ACTIVATIONS,
                     "mlp.dgate_up", backend.stream())) {
            backend.swigluBackward(s.gateUp(), dact, dgu);
            return gateUp.backward(microBatch, dgu);
        } finally {
            s.close();
        }
    }

    /**
     * The input half of {@link #backward} (zero-bubble schedules): returns a new {@code dX} and keeps, for
     * {@link #backwardWeight}, the activation {@code down_proj} read and the gradient of gate|up that
     * {@code gate_up_proj} reads; {@code dy} is kept by reference, so the caller leaves it live until then. The
     * gradients equal {@link #backward}'s bit for bit.
     */
    public Tensor backwardInput(int microBatch, Tensor dy) {
        if (pending.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " already waits for its weight gradients in "
                    + "the MLP");
        }
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in the MLP");
        }
        Tensor dgu = null;
        boolean ok = false;
        try (Tensor dact = down.backwardInput(microBatch, dy)) {
            dgu = Tensor.allocate(allocator, DType.FP32, s.gateUp().shape(), MemoryCategory.ACTIVATIONS,
                    "mlp.dgate_up", backend.stream());
            backend.swigluBackward(s.gateUp(), dact, dgu);
            Tensor dx = gateUp.backwardInput(microBatch, dgu);
            pending.put(microBatch, new Saved(dgu, s.activation()));
            s.gateUp().close();
            ok = true;
            return dx;
        } finally {
            if (!ok) {
                s.close();
                if (dgu != null) {
                    dgu.close();
                }
            }
        }
    }

    /** The weight half: {@code down_proj}'s and {@code gate_up_proj}'s gradients from what {@link #backwardInput} kept. */
    public void backwardWeight(int microBatch) {
        Saved p = pending.remove(microBatch);
        if (p == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch
                    + " waits in the MLP: run backwardInput first");
        }
        try {
            down.backwardWeight(microBatch);
            gateUp.backwardWeight(microBatch);
        } finally {
            p.close();
        }
    }

    /** Frees what the forward of {@code microBatch} saved, as if its backward had run, without touching the gradients. */
    public void discard(int microBatch) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in the MLP");
        }
        s.close();
        down.discard(microBatch);
        gateUp.discard(microBatch);
    }

    /** Frees the parameters and anything still saved. */
    @Override
    public void close() {
        saved.values().forEach(Saved::close);
        saved.clear();
        pending.values().forEach(Saved::close);
        pending.clear();
        down.close();
        gateUp.close();
    }
}
