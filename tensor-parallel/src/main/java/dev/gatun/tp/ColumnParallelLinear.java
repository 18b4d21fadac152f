package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.ops.Transpose;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.IntUnaryOperator;

/**
 * Linear layer {@code Y = X·Wᵀ + b} with {@code W [out, in]} split along its output dimension (Megatron's
 * {@code ColumnParallelLinear}): rank {@code r} holds the rows {@code W_r [out/tp, in]} and {@code b_r [out/tp]} and
 * computes {@code Y_r = X·W_rᵀ + b_r [N, out/tp]} from the full input {@code X [N, in]}. The input passes
 * {@link Mappings#copyToRegion() f} (identity forward, all-reduce of {@code dX} backward); with {@code gatherOutput}
 * the output passes {@link Mappings#gatherFromRegion()} to the full {@code Y [N, out]}.
 *
 * <p>Backward: {@code dX = all-reduce(dY_r·W_r)}, {@code dW_r += dY_rᵀ·X}, {@code db_r += Σ_n dY_r}. The input of each
 * micro-batch is kept (by reference: the caller leaves it unchanged) until that micro-batch's backward.
 *
 * <p>With {@code sequenceParallel} the input is this rank's {@code N/tp} rows {@code X_s} of {@code X} and passes
 * {@link Mappings#gatherFromSequenceParallelRegion()} instead of {@code f}: {@code X = all-gather(X_s)} before the
 * GEMM, and {@code dX_s = reduce-scatter(dY_r·W_r)}. Only {@code X_s} is kept: the backward all-gathers {@code X}
 * again for {@code dW_r} (the paper's choice, which keeps the activation memory of the input divided by tp).
 */
public final class ColumnParallelLinear implements AutoCloseable {
    private final int in;
    private final int out;
    private final int localOut;
    private final boolean gatherOutput;
    private final boolean sequenceParallel;
    private final IntUnaryOperator globalRow;
    private final Backend backend;
    private final TensorAllocator allocator;
    private final Mappings mappings;
    private final Parameter weight;
    private final Parameter bias;
    private final Map<Integer, Tensor> inputs = new HashMap<>();
    private final Map<Integer, Pending> pending = new HashMap<>();

    /** What the weight half of a split backward reads: the input and this rank's output gradient. */
    private record Pending(Tensor input, Tensor grad) {
    }

    /**
     * A layer whose rank {@code r} owns the output columns {@code [r·out/tp, (r+1)·out/tp)}.
     *
     * @param name parameters are {@code name + ".weight"} and {@code name + ".bias"}
     * @param seed initialisation seed: {@code W ~ N(0, 0.02²)} by global index, {@code b = 0}
     * @throws IllegalArgumentException when tp does not divide {@code out}
     */
    public ColumnParallelLinear(int in, int out, Mappings mappings, Backend backend, TensorAllocator allocator,
                                String name, long seed, boolean gatherOutput) {
        this(in, out, mappings, backend, allocator, name, seed, gatherOutput,
                contiguous(out, mappings.group().size(), mappings.group().rank()), false);
    }

    /**
     * A contiguous shard whose input is split along its rows over the group ({@code sequenceParallel}, see the class
     * comment), with the output this rank's columns.
     */
    public static ColumnParallelLinear sequenceParallel(int in, int out, Mappings mappings, Backend backend,
                                                        TensorAllocator allocator, String name, long seed) {
        return new ColumnParallelLinear(in, out, mappings, backend, allocator, name, seed, false,
                contiguous(out, mappings.group().size(), mappings.group().rank()), true);
    }

    /**
     * A layer whose local output column {@code j} is column {@code globalRow(j)} of the full layer (a permuted
     * shard, e.g. the q, k and v columns of this rank's heads); {@code gatherOutput} then needs the contiguous layout.
     */
    ColumnParallelLinear(int in, int out, Mappings mappings, Backend backend, TensorAllocator allocator,
                         String name, long seed, boolean gatherOutput, IntUnaryOperator globalRow,
                         boolean sequenceParallel) {
        this(in, out, mappings, backend, allocator, name, seed, gatherOutput, globalRow, sequenceParallel, true);
    }

    /**
     * A bias-free layer ({@code Y_r = X·W_rᵀ}, as Llama's projections) whose local output column {@code j} is column
     * {@code globalRow(j)} of the full layer, e.g. the fused q, k and v rows of this rank's query and key/value heads,
     * or its rows of two stacked weights.
     */
    public static ColumnParallelLinear withoutBias(int in, int out, Mappings mappings, Backend backend,
                                                   TensorAllocator allocator, String name, long seed,
                                                   IntUnaryOperator globalRow) {
        return withoutBias(in, out, mappings, backend, allocator, name, seed, globalRow, false);
    }

    /** {@link #withoutBias}, its input this rank's rows under {@code sequenceParallel} (see the class comment). */
    public static ColumnParallelLinear withoutBias(int in, int out, Mappings mappings, Backend backend,
                                                   TensorAllocator allocator, String name, long seed,
                                                   IntUnaryOperator globalRow, boolean sequenceParallel) {
        return new ColumnParallelLinear(in, out, mappings, backend, allocator, name, seed, false, globalRow,
                sequenceParallel, false);
    }

    private ColumnParallelLinear(int in, int out, Mappings mappings, Backend backend, TensorAllocator allocator,
                                 String name, long seed, boolean gatherOutput, IntUnaryOperator globalRow,
                                 boolean sequenceParallel, boolean hasBias) {
        int tp = mappings.group().size();
        if (gatherOutput && sequenceParallel) {
            throw new IllegalArgumentException("a sequence-parallel input and a gathered output do not combine");
        }
        this.sequenceParallel = sequenceParallel;
        Shard.requireDivides("out", out, tp);
        if (in < 1) {
            throw new IllegalArgumentException("in must be at least 1, got " + in);
        }
        this.in = in;
        this.out = out;
        this.localOut = out / tp;
        this.gatherOutput = gatherOutput;
        this.globalRow = globalRow;
        this.backend = Objects.requireNonNull(backend, "backend must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        this.mappings = mappings;
        var stream = backend.stream();
        this.weight = Parameter.gaussian(allocator, stream, name + ".weight", Shape.of(localOut, in),
                Shape.of(out, in),
                seed, 0.02,
                i -> (long) globalRow.applyAsInt((int) (i / in)) * in + i % in);
        boolean ok = false;
        try {
            this.bias = !hasBias ? null : Parameter.gaussian(allocator, stream, name + ".bias", Shape.of(localOut),
                    Shape.of(out), seed, 0, i -> globalRow.applyAsInt((int) i));
            ok = true;
        } finally {
            if (!ok) {
                weight.close();
            }
        }
    }

    static IntUnaryOperator contiguous(int out, int tp, int rank) {
        Shard.requireDivides("out", out, tp);
        int offset = rank * (out / tp);
        return j -> offset + j;
    }

    /** {@code W_r [out/tp, in]} and its gradient. */
    public Parameter weight() {
        return weight;
    }

    /** Whether the layer adds a bias. */
    public boolean hasBias() {
        return bias != null;
    }

    /** {@code b_r [out/tp]} and its gradient; throws for a layer {@link #withoutBias}. */
    public Parameter bias() {
        if (bias == null) {
            throw new IllegalStateException(weight.name() + "'s layer has no bias");
        }
        return bias;
    }

    /** The column of the full layer that this rank's output column {@code j} is. */
    public int globalOutputColumn(int j) {
        return globalRow.applyAsInt(j);
    }

    /**
     * {@code Y_r = X·W_rᵀ + b_r}: {@code x [..., in]} gives a new {@code [..., out/tp]}, or {@code [..., out]} with
     * {@code gatherOutput} (same leading dimensions); the caller closes it.
     */
    public Tensor forward(int microBatch, Tensor x) {
        Tensor x2 = x.reshape(-1, in);
        if (inputs.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " is already in flight in "
                    + weight.name() + ": run its backward first");
        }
        var stream = backend.stream();
        Tensor input = sequenceParallel ? gatherInput(x2) : x2;
        Tensor y;
        try {
            y = Tensor.allocate(allocator, DType.FP32, sequenceParallel ? Shape.of(input.shape().dim(0), localOut)
                    : Shapes.withLast(x.shape(), localOut), MemoryCategory.ACTIVATIONS, weight.name() + ".out", stream);
            Tensor y2 = y.reshape(-1, localOut);
            if (!sequenceParallel) {
                mappings.copyToRegion().forward(x2, x2);
            }
            Tensor w = weight.compute();
            MixedGemm.gemm(backend, allocator, w.dtype(), input, Transpose.NONE, w, Transpose.TRANSPOSE, y2, 0f);
            if (bias != null) {
                backend.addBias(y2, bias.value());
            }
        } finally {
            if (sequenceParallel) {
                input.close();
            }
        }
        inputs.put(microBatch, x);
        if (!gatherOutput) {
            return y;
        }
        try (y) {
            Tensor full = Tensor.allocate(allocator, DType.FP32, Shapes.withLast(x.shape(), out),
                    MemoryCategory.ACTIVATIONS, weight.name() + ".out", stream);
            mappings.gatherFromRegion().forward(y, full);
            return full;
        }
    }

    /** Sequence parallelism: the whole input {@code X [N, in]} all-gathered from the ranks' rows (a new tensor). */
    private Tensor gatherInput(Tensor x2) {
        Tensor full = Tensor.allocate(allocator, x2.dtype(), Shape.of(x2.shape().dim(0) * mappings.group().size(), in),
                MemoryCategory.ACTIVATIONS, weight.name() + ".input", backend.stream());
        boolean ok = false;
        try {
            mappings.gatherFromSequenceParallelRegion().forward(x2, full);
            ok = true;
            return full;
        } finally {
            if (!ok) {
                full.close();
            }
        }
    }

    /**
     * From {@code dy} ({@code [N, out/tp]}, or {@code [N, out]} with {@code gatherOutput}) accumulates
     * {@code dW_r, db_r} and returns a new {@code dX} shaped like the input, all-reduced over the group; the caller closes it.
     */
    public Tensor backward(int microBatch, Tensor dy) {
        Tensor x = takeInput(microBatch);
        Tensor dyLocal = localGrad(x, dy);
        try {
            Tensor dx = inputGrad(x, dyLocal);
            weightGrads(x, dyLocal);
            return dx;
        } finally {
            if (gatherOutput) {
                dyLocal.close();
            }
        }
    }

    /**
     * The input half of {@link #backward} (zero-bubble schedules): returns the new, all-reduced {@code dX} and keeps
     * the input and {@code dy} (by reference: the caller leaves {@code dy} unchanged and live) for
     * {@link #backwardWeight}. The two halves run the same kernels as {@link #backward}, so the gradients are equal bit
     * for bit.
     */
    public Tensor backwardInput(int microBatch, Tensor dy) {
        if (pending.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " already waits for its weight gradients in "
                    + weight.name());
        }
        Tensor x = takeInput(microBatch);
        Tensor dyLocal = localGrad(x, dy);
        boolean ok = false;
        try {
            Tensor dx = inputGrad(x, dyLocal);
            pending.put(microBatch, new Pending(x, dyLocal));
            ok = true;
            return dx;
        } finally {
            if (!ok && gatherOutput) {
                dyLocal.close();
            }
        }
    }

    /** The weight half: {@code dW_r += dY_rᵀ·X}, {@code db_r += Σ_n dY_r} from what {@link #backwardInput} kept. */
    public void backwardWeight(int microBatch) {
        Pending p = pending.remove(microBatch);
        if (p == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch + " waits in "
                    + weight.name() + ": run backwardInput first");
        }
        try {
            weightGrads(p.input(), p.grad());
        } finally {
            if (gatherOutput) {
                p.grad().close();
            }
        }
    }

    private Tensor takeInput(int microBatch) {
        Tensor x = inputs.remove(microBatch);
        if (x == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in "
                    + weight.name());
        }
        return x;
    }

    /** {@code dY_r [N, out/tp]}: {@code dy} itself, or this rank's columns of it (a new tensor) with gatherOutput. */
    private Tensor localGrad(Tensor x, Tensor dy) {
        long n = x.numel() / in * (sequenceParallel ? mappings.group().size() : 1);
        if (!gatherOutput) {
            return dy.reshape(n, localOut);
        }
        Tensor dyLocal = Tensor.allocate(allocator, DType.FP32, Shape.of(n, localOut), MemoryCategory.ACTIVATIONS,
                weight.name() + ".dout", backend.stream());
        mappings.gatherFromRegion().backward(dy.reshape(n, out), dyLocal);
        return dyLocal;
    }

    /**
     * {@code dX = all-reduce(dY_r·W_r)} shaped like the input, or with sequence parallelism this rank's rows of
     * {@code reduce-scatter(dY_r·W_r)}: a new tensor.
     */
    private Tensor inputGrad(Tensor x, Tensor dyLocal) {
        var stream = backend.stream();
        Tensor w = weight.compute();
        if (!sequenceParallel) {
            Tensor dx = Tensor.allocate(allocator, DType.FP32, x.shape(), MemoryCategory.ACTIVATIONS,
                    weight.name() + ".din", stream);
            Tensor dx2 = dx.reshape(-1, in);
            MixedGemm.gemm(backend, allocator, w.dtype(), dyLocal, Transpose.NONE, w, Transpose.NONE, dx2, 0f);
            mappings.copyToRegion().backward(dx2, dx2);
            return dx;
        }
        try (Tensor full = Tensor.allocate(allocator, DType.FP32, Shape.of(dyLocal.shape().dim(0), in),
                MemoryCategory.ACTIVATIONS, weight.name() + ".din", stream)) {
            MixedGemm.gemm(backend, allocator, w.dtype(), dyLocal, Transpose.NONE, w, Transpose.NONE, full, 0f);
            Tensor dx = Tensor.allocate(allocator, DType.FP32, x.shape(), MemoryCategory.ACTIVATIONS,
                    weight.name() + ".din", stream);
            mappings.gatherFromSequenceParallelRegion().backward(full, dx.reshape(-1, in));
            return dx;
        }
    }

    /** {@code dW_r += dY_rᵀ·X}, {@code db_r += Σ_n dY_r}; with sequence parallelism {@code X} is all-gathered again. */
    private void weightGrads(Tensor x, Tensor dyLocal) {
        Tensor w = weight.compute();
        Tensor input = sequenceParallel ? gatherInput(x.reshape(-1, in)) : x.reshape(-1, in);
        try {
            MixedGemm.gemm(backend, allocator, w.dtype(), dyLocal, Transpose.TRANSPOSE, input, Transpose.NONE,
                    weight.grad(), 1f);
        } finally {
            if (sequenceParallel) {
                input.close();
            }
        }
        if (bias != null) {
            backend.biasBackward(dyLocal, bias.grad());
        }
    }

    /**
     * Forgets the input the forward of {@code microBatch} kept (the caller's tensor, not freed here), as if its
     * backward had run, without touching the gradients: for activation recomputation, which runs the forward again
     * before the backward.
     *
     * @throws IllegalStateException when no forward of {@code microBatch} is in flight
     */
    public void discard(int microBatch) {
        if (inputs.remove(microBatch) == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in "
                    + weight.name());
        }
    }

    /** Frees the parameters; saved inputs are the callers'. */
    @Override
    public void close() {
        if (gatherOutput) {
            pending.values().forEach(p -> p.grad().close());
        }
        pending.clear();
        inputs.clear();
        if (bias != null) {
            bias.close();
        }
        weight.close();
    }
}
