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

/**
 * Linear layer {@code Y = X·Wᵀ + b} with {@code W [out, in]} split along its input dimension (Megatron's
 * {@code RowParallelLinear}): rank {@code r} holds the columns {@code W_r [out, in/tp]} (input features
 * {@code [r·in/tp, (r+1)·in/tp)}) and takes the matching split input {@code X_r [N, in/tp]}, as a column-parallel layer
 * leaves it. {@code Y = all-reduce(X_r·W_rᵀ) + b} through {@link Mappings#reduceFromRegion() g}; the bias, full and
 * equal on every rank, is added once, after the reduction.
 *
 * <p>Backward (g's backward is the identity): {@code dX_r = dY·W_r}, {@code dW_r += dYᵀ·X_r},
 * {@code db += Σ_n dY} (the same on every rank). Inputs are kept by reference per micro-batch until its backward.
 *
 * <p>With {@code sequenceParallel} the output leaves through
 * {@link Mappings#reduceScatterToSequenceParallelRegion()} instead of {@code g}: {@code Y_s = reduce-scatter(X_r·W_rᵀ)
 * + b}, this rank's {@code N/tp} rows {@code [N/tp, out]}; the backward all-gathers {@code dY} from the ranks' rows
 * first, so {@code dX_r}, {@code dW_r} and {@code db} (over all {@code N} rows, still the same on every rank) are as
 * above.
 */
public final class RowParallelLinear implements AutoCloseable {
    private final int localIn;
    private final int out;
    private final boolean sequenceParallel;
    private final Backend backend;
    private final TensorAllocator allocator;
    private final Mappings mappings;
    private final Parameter weight;
    private final Parameter bias;
    private final Map<Integer, Tensor> inputs = new HashMap<>();
    private final Map<Integer, Pending> pending = new HashMap<>();

    /**
     * What the weight half of a split backward reads: the input and the output gradient (the caller's, or with
     * sequence parallelism the all-gathered one, which this layer owns).
     */
    private record Pending(Tensor input, Tensor grad) {
    }

    /**
     * @param name parameters are {@code name + ".weight"} and {@code name + ".bias"}
     * @param seed initialisation seed: {@code W ~ N(0, 0.02²)} by global index, {@code b = 0}
     * @throws IllegalArgumentException when tp does not divide {@code in}
     */
    public RowParallelLinear(int in, int out, Mappings mappings, Backend backend, TensorAllocator allocator,
                             String name, long seed) {
        this(in, out, mappings, backend, allocator, name, seed, false);
    }

    /**
     * @param sequenceParallel whether the output is this rank's rows of the reduce-scattered sum (see the class
     *                         comment) rather than the all-reduced whole
     */
    public RowParallelLinear(int in, int out, Mappings mappings, Backend backend, TensorAllocator allocator,
                             String name, long seed, boolean sequenceParallel) {
        this(in, out, mappings, backend, allocator, name, seed, sequenceParallel, true);
    }

    /** A bias-free layer ({@code Y = all-reduce(X_r·W_rᵀ)}, as Llama's output projections). */
    public static RowParallelLinear withoutBias(int in, int out, Mappings mappings, Backend backend,
                                                TensorAllocator allocator, String name, long seed) {
        return withoutBias(in, out, mappings, backend, allocator, name, seed, false);
    }

    /** {@link #withoutBias}, its output this rank's rows of the reduce-scattered sum under {@code sequenceParallel}. */
    public static RowParallelLinear withoutBias(int in, int out, Mappings mappings, Backend backend,
                                                TensorAllocator allocator, String name, long seed,
                                                boolean sequenceParallel) {
        return new RowParallelLinear(in, out, mappings, backend, allocator, name, seed, sequenceParallel, false);
    }

    private RowParallelLinear(int in, int out, Mappings mappings, Backend backend, TensorAllocator allocator,
                              String name, long seed, boolean sequenceParallel, boolean hasBias) {
        this.sequenceParallel = sequenceParallel;
        Shard shard = Shard.of("in", in, mappings.group().size(), mappings.group().rank());
        if (out < 1) {
            throw new IllegalArgumentException("out must be at least 1, got " + out);
        }
        this.localIn = shard.size();
        this.out = out;
        this.backend = Objects.requireNonNull(backend, "backend must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        this.mappings = mappings;
        var stream = backend.stream();
        this.weight = Parameter.gaussian(allocator, stream, name + ".weight", Shape.of(out, localIn),
                Shape.of(out, in),
                seed, 0.02,
                i -> i / localIn * in + shard.offset() + i % localIn);
        boolean ok = false;
        try {
            this.bias = !hasBias ? null : Parameter.gaussian(allocator, stream, name + ".bias", Shape.of(out),
                    Shape.of(out), seed, 0, i -> i);
            ok = true;
        } finally {
            if (!ok) {
                weight.close();
            }
        }
    }

    /** {@code W_r [out, in/tp]} and its gradient. */
    public Parameter weight() {
        return weight;
    }

    /** Whether the layer adds a bias. */
    public boolean hasBias() {
        return bias != null;
    }

    /** {@code b [out]} (replicated) and its gradient. */
    public Parameter bias() {
        if (bias == null) {
            throw new IllegalStateException(weight.name() + "'s layer has no bias");
        }
        return bias;
    }

    /** {@code Y = all-reduce(X_r·W_rᵀ) + b}: {@code x [..., in/tp]} gives a new {@code [..., out]}; the caller closes it. */
    public Tensor forward(int microBatch, Tensor x) {
        Tensor x2 = x.reshape(-1, localIn);
        if (inputs.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " is already in flight in "
                    + weight.name() + ": run its backward first");
        }
        Tensor y = Tensor.allocate(allocator, DType.FP32, Shapes.withLast(x.shape(), out),
                MemoryCategory.ACTIVATIONS, weight.name() + ".out", backend.stream());
        Tensor y2 = y.reshape(-1, out);
        Tensor w = weight.compute();
        MixedGemm.gemm(backend, allocator, w.dtype(), x2, Transpose.NONE, w, Transpose.TRANSPOSE, y2, 0f);
        if (sequenceParallel) {
            try (y) {
                Tensor ys = Tensor.allocate(allocator, DType.FP32, Shape.of(y2.shape().dim(0) / mappings.group().size(),
                        out), MemoryCategory.ACTIVATIONS, weight.name() + ".out", backend.stream());
                mappings.reduceScatterToSequenceParallelRegion().forward(y2, ys);
                if (bias != null) {
                    backend.addBias(ys, bias.value());
                }
                inputs.put(microBatch, x);
                return ys;
            }
        }
        mappings.reduceFromRegion().forward(y2, y2);
        if (bias != null) {
            backend.addBias(y2, bias.value());
        }
        inputs.put(microBatch, x);
        return y;
    }

    /** From {@code dy [N, out]} accumulates {@code dW_r, db} and returns a new {@code dX_r} shaped like the input. */
    public Tensor backward(int microBatch, Tensor dy) {
        Tensor x = takeInput(microBatch);
        Tensor dy2 = wholeGrad(dy);
        try {
            Tensor dx = inputGrad(x, dy2);
            weightGrads(x, dy2);
            return dx;
        } finally {
            if (sequenceParallel) {
                dy2.close();
            }
        }
    }

    /** {@code dY [N, out]}: {@code dy} itself, or with sequence parallelism all-gathered from the ranks' rows. */
    private Tensor wholeGrad(Tensor dy) {
        Tensor dy2 = dy.reshape(-1, out);
        if (!sequenceParallel) {
            mappings.reduceFromRegion().backward(dy2, dy2);
            return dy2;
        }
        Tensor whole = Tensor.allocate(allocator, DType.FP32, Shape.of(dy2.shape().dim(0) * mappings.group().size(),
                out), MemoryCategory.ACTIVATIONS, weight.name() + ".dout", backend.stream());
        mappings.reduceScatterToSequenceParallelRegion().backward(dy2, whole);
        return whole;
    }

    /**
     * The input half of {@link #backward} (zero-bubble schedules): returns the new {@code dX_r} and keeps the input
     * and {@code dy} (by reference: the caller leaves {@code dy} unchanged and live) for {@link #backwardWeight}; the
     * same kernels as {@link #backward}, so the gradients are equal bit for bit.
     */
    public Tensor backwardInput(int microBatch, Tensor dy) {
        if (pending.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " already waits for its weight gradients in "
                    + weight.name());
        }
        Tensor x = takeInput(microBatch);
        Tensor dy2 = wholeGrad(dy);
        boolean ok = false;
        try {
            Tensor dx = inputGrad(x, dy2);
            pending.put(microBatch, new Pending(x, dy2));
            ok = true;
            return dx;
        } finally {
            if (!ok && sequenceParallel) {
                dy2.close();
            }
        }
    }

    /** The weight half: {@code dW_r += dYᵀ·X_r}, {@code db += Σ_n dY} from what {@link #backwardInput} kept. */
    public void backwardWeight(int microBatch) {
        Pending p = pending.remove(microBatch);
        if (p == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch + " waits in "
                    + weight.name() + ": run backwardInput first");
        }
        try {
            weightGrads(p.input(), p.grad());
        } finally {
            if (sequenceParallel) {
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

    private Tensor inputGrad(Tensor x, Tensor dy2) {
        Tensor dx = Tensor.allocate(allocator, DType.FP32, x.shape(), MemoryCategory.ACTIVATIONS,
                weight.name() + ".din", backend.stream());
        Tensor w = weight.compute();
        MixedGemm.gemm(backend, allocator, w.dtype(), dy2, Transpose.NONE, w, Transpose.NONE, dx.reshape(-1, localIn),
                0f);
        return dx;
    }

    private void weightGrads(Tensor x, Tensor dy2) {
        Tensor w = weight.compute();
        MixedGemm.gemm(backend, allocator, w.dtype(), dy2, Transpose.TRANSPOSE, x.reshape(-1, localIn),
                Transpose.NONE, weight.grad(), 1f);
        if (bias != null) {
            backend.biasBackward(dy2, bias.grad());
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
        if (sequenceParallel) {
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
