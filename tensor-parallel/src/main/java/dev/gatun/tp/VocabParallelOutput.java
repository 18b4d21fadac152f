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
import java.util.function.UnaryOperator;

/**
 * A language model's output projection, vocabulary-parallel (Megatron's parallel LM logits): from the normalised
 * hidden states {@code h [N, C]} rank {@code r} computes its logits {@code z_r = h·W_rᵀ [N, Vp/tp]} with
 * {@code W_r [Vp/tp, C]} its rows of the output embedding (a head's own weight or the tied token embedding; not
 * owned here). {@code h} passes {@link Mappings#copyToRegion() f} (its gradient {@code dh = Σ_r dz_r·W_r}
 * all-reduced over tp), or with sequence parallelism arrives as this rank's {@code N/tp} rows and passes
 * {@link Mappings#gatherFromSequenceParallelRegion()} (all-gathered for the GEMM, {@code dh} reduce-scattered back
 * to the rows). {@code dW_r += dz_rᵀ·h}. The logits go to {@link VocabParallelCrossEntropy}.
 *
 * <p>The backward hands {@code dh} to the layer below (the final norm) through a function, while {@code h} and the
 * whole {@code dh} are still alive, and frees them after it returns; the split backward (zero-bubble schedules) keeps
 * {@code h} and a copy of {@code dz} for {@link #backwardWeight}.
 */
public final class VocabParallelOutput implements AutoCloseable {
    private final Parameter weight;
    private final int channels;
    private final int localVocab;
    private final Mappings mappings;
    private final Backend backend;
    private final TensorAllocator allocator;
    private final boolean sequenceParallel;
    private final Map<Integer, Tensor> saved = new HashMap<>();
    private final Map<Integer, Tensor[]> pending = new HashMap<>();

    /** @param weight {@code W_r [Vp/tp, C]}, the caller's */
    public VocabParallelOutput(Parameter weight, int channels, Mappings mappings, Backend backend,
                               TensorAllocator allocator, boolean sequenceParallel) {
        this.weight = Objects.requireNonNull(weight, "weight must not be null");
        this.channels = channels;
        this.localVocab = Math.toIntExact(weight.value().shape().dim(0));
        this.mappings = mappings;
        this.backend = backend;
        this.allocator = allocator;
        this.sequenceParallel = sequenceParallel;
    }

    /**
     * The logits {@code [N, Vp/tp]} (a new tensor) from {@code h} (a new tensor the caller hands over: this layer
     * frees it; with sequence parallelism this rank's rows).
     */
    public Tensor forward(int microBatch, Tensor h) {
        if (saved.containsKey(microBatch) || pending.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " is already in flight in "
                    + weight.name() + "'s logits");
        }
        if (sequenceParallel) {
            try (Tensor rows = h) {
                h = Tensor.allocate(allocator, DType.FP32, Shape.of(rows.numel() / channels * mappings.group().size(),
                        channels), MemoryCategory.ACTIVATIONS, "lm_head.input", backend.stream());
                mappings.gatherFromSequenceParallelRegion().forward(rows.reshape(-1, channels), h);
            }
        }
        long n = h.numel() / channels;
        Tensor h2 = h.reshape(n, channels);
        mappings.copyToRegion().forward(h2, h2);
        Tensor logits = Tensor.allocate(allocator, DType.FP32, Shape.of(n, localVocab), MemoryCategory.ACTIVATIONS,
                "lm_head.logits", backend.stream());
        Tensor w = weight.compute();
        MixedGemm.gemm(backend, allocator, w.dtype(), h2, Transpose.NONE, w, Transpose.TRANSPOSE, logits, 0f);
        saved.put(microBatch, h);
        return logits;
    }

    /**
     * Accumulates {@code dW_r} and returns what {@code below} returns for {@code dh} (summed over tp; this rank's
     * rows with sequence parallelism), which is live only during that call.
     */
    public Tensor backward(int microBatch, Tensor dlogits, UnaryOperator<Tensor> below) {
        Tensor h = take(microBatch);
        long n = h.numel() / channels;
        try (h; Tensor dh = Tensor.allocate(allocator, DType.FP32, h.shape(), MemoryCategory.ACTIVATIONS,
                "lm_head.dh", backend.stream())) {
            Tensor dh2 = dh.reshape(n, channels);
            Tensor w = weight.compute();
            MixedGemm.gemm(backend, allocator, w.dtype(), dlogits, Transpose.NONE, w, Transpose.NONE, dh2, 0f);
            MixedGemm.gemm(backend, allocator, w.dtype(), dlogits, Transpose.TRANSPOSE, h.reshape(n, channels),
                    Transpose.NONE, weight.grad(), 1f);
            return reduced(dh2, below);
        }
    }

    /**
     * The input half of {@link #backward}: {@code dh} only, through {@code below}; keeps {@code h} and a copy of
     * {@code dlogits} (the caller's, live only during the call) for {@link #backwardWeight}.
     */
    public Tensor backwardInput(int microBatch, Tensor dlogits, UnaryOperator<Tensor> below) {
        if (pending.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " already waits for its weight gradients in "
                    + weight.name() + "'s logits");
        }
        Tensor h = take(microBatch);
        long n = h.numel() / channels;
        var stream = backend.stream();
        Tensor dz = Tensor.allocate(allocator, DType.FP32, dlogits.shape(), MemoryCategory.ACTIVATIONS,
                "lm_head.dlogits", stream);
        boolean ok = false;
        try (Tensor dh = Tensor.allocate(allocator, DType.FP32, h.shape(), MemoryCategory.ACTIVATIONS, "lm_head.dh",
                stream)) {
            dz.copyFrom(dlogits, stream);
            Tensor dh2 = dh.reshape(n, channels);
            Tensor w = weight.compute();
            MixedGemm.gemm(backend, allocator, w.dtype(), dz, Transpose.NONE, w, Transpose.NONE, dh2, 0f);
            Tensor dx = reduced(dh2, below);
            pending.put(microBatch, new Tensor[] {h, dz});
            ok = true;
            return dx;
        } finally {
            if (!ok) {
                dz.close();
                h.close();
            }
        }
    }

    /** The weight half: {@code dW_r += dzᵀ·h} from what {@link #backwardInput} kept. */
    public void backwardWeight(int microBatch) {
        Tensor[] p = pending.remove(microBatch);
        if (p == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch + " waits in "
                    + weight.name() + "'s logits: run backwardInput first");
        }
        try (Tensor h = p[0]; Tensor dz = p[1]) {
            Tensor w = weight.compute();
            MixedGemm.gemm(backend, allocator, w.dtype(), dz, Transpose.TRANSPOSE,
                    h.reshape(h.numel() / channels, channels), Transpose.NONE, weight.grad(), 1f);
        }
    }

    private Tensor take(int microBatch) {
        Tensor h = saved.remove(microBatch);
        if (h == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in "
                    + weight.name() + "'s logits");
        }
        return h;
    }

    /** {@code dh} summed over tp (all-reduce in place, or reduce-scatter to this rank's rows), through below. */
    private Tensor reduced(Tensor dh2, UnaryOperator<Tensor> below) {
        if (!sequenceParallel) {
            mappings.copyToRegion().backward(dh2, dh2);
            return below.apply(dh2);
        }
        try (Tensor rows = Tensor.allocate(allocator, DType.FP32, Shape.of(dh2.shape().dim(0)
                / mappings.group().size(), channels), MemoryCategory.ACTIVATIONS, "lm_head.dh", backend.stream())) {
            mappings.gatherFromSequenceParallelRegion().backward(dh2, rows);
            return below.apply(rows);
        }
    }

    /** Frees what is still saved; the weight is the caller's. */
    @Override
    public void close() {
        saved.values().forEach(Tensor::close);
        saved.clear();
        pending.values().forEach(p -> {
            p[0].close();
            p[1].close();
        });
        pending.clear();
    }
}
