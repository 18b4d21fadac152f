package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.ops.VocabSlice;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Token embedding with the table {@code wte [Vp, C]} split along the (padded) vocabulary (Megatron's
 * {@code VocabParallelEmbedding}): rank {@code r} holds rows {@code [r·Vp/tp, (r+1)·Vp/tp)}. Forward: each rank writes
 * the rows of the ids it owns and zeros for the others ({@link Backend#vocabEmbedding}), then
 * {@link Mappings#reduceFromRegion() g} (all-reduce SUM) gives {@code out[n] = wte[id_n]} on every rank. Backward
 * (g's is the identity): {@code dwte[id_n − offset] += dout[n]} for the owned ids only
 * ({@link Backend#vocabEmbeddingBackward}). Runs on the backend's device: CPU or CUDA.
 */
public final class VocabParallelEmbedding implements AutoCloseable {
    private final int channels;
    private final Shard shard;
    private final VocabSlice slice;
    private final Mappings mappings;
    private final Backend backend;
    private final TensorAllocator allocator;
    private final Parameter weight;
    private final Map<Integer, Tensor> tokens = new HashMap<>();

    /** An unpadded table: {@code vocab} ids, all real. */
    public VocabParallelEmbedding(int vocab, int channels, Mappings mappings, Backend backend,
                                  TensorAllocator allocator, String name, long seed) {
        this(vocab, vocab, channels, mappings, backend, allocator, name, seed);
    }

    /**
     * A table of {@code paddedVocab} rows of which ids {@code [0, vocab)} are real (the padding rows exist so that tp
     * divides the table, and no id selects them).
     *
     * @param name the parameter is {@code name + ".weight"}, initialised {@code N(0, 0.02²)} by global index
     * @throws IllegalArgumentException when tp does not divide {@code paddedVocab}, {@code vocab} is not in
     *                                  {@code [1, paddedVocab]}, or the backend is not on the allocator's device
     */
    public VocabParallelEmbedding(int vocab, int paddedVocab, int channels, Mappings mappings, Backend backend,
                                  TensorAllocator allocator, String name, long seed) {
        if (vocab < 1 || vocab > paddedVocab) {
            throw new IllegalArgumentException("vocab=" + vocab + " must be in [1, paddedVocab=" + paddedVocab + "]");
        }
        if (channels < 1) {
            throw new IllegalArgumentException("channels must be at least 1, got " + channels);
        }
        this.shard = Shard.of("vocab", paddedVocab, mappings.group().size(), mappings.group().rank());
        this.slice = new VocabSlice(shard.offset(), vocab);
        this.channels = channels;
        this.mappings = mappings;
        this.backend = Objects.requireNonNull(backend, "backend must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        long offset = (long) shard.offset() * channels;
        this.weight = Parameter.gaussian(allocator, backend.stream(), name + ".weight", Shape.of(shard.size(), channels),
                Shape.of(paddedVocab, channels), seed, 0.02, i -> offset + i);
    }

    /** {@code wte_r [Vp/tp, C]} and its gradient. */
    public Parameter weight() {
        return weight;
    }

    /** The vocabulary ids this rank's rows cover. */
    public Shard vocabShard() {
        return shard;
    }

    /**
     * int32 {@code ids [...]} in {@code [0, vocab)} (kept by reference until the backward) give a new
     * {@code [..., C]}. An id outside: the CPU backend throws naming it; on CUDA its row is NaN.
     */
    public Tensor forward(int microBatch, Tensor ids) {
        Tensor out = partialForward(microBatch, ids);
        try {
            mappings.reduceFromRegion().forward(out, out);
            return out;
        } catch (RuntimeException | Error e) {
            tokens.remove(microBatch);
            out.close();
            throw e;
        }
    }

    /**
     * This rank's term of the forward, before the reduction: its rows of {@code wte} for the ids it owns and zeros
     * for the others, a new {@code [..., C]}; the sum over the group's ranks (an all-reduce, or a reduce-scatter under
     * sequence parallelism) is the embedding. {@link #backward} takes the gradient of the whole sum.
     */
    public Tensor partialForward(int microBatch, Tensor ids) {
        if (ids.dtype() != DType.INT32) {
            throw new IllegalArgumentException("token ids must be int32, got '" + ids.name() + "' "
                    + ids.dtype().shortName());
        }
        if (tokens.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " is already in flight in "
                    + weight.name() + ": run its backward first");
        }
        long[] dims = ids.shape().dims();
        long[] outDims = Arrays.copyOf(dims, dims.length + 1);
        outDims[dims.length] = channels;
        Tensor out = Tensor.allocate(allocator, DType.FP32, Shape.of(outDims), MemoryCategory.ACTIVATIONS,
                weight.name() + ".out", backend.stream());
        boolean ok = false;
        try {
            backend.vocabEmbedding(ids, weight.value(), slice, out);
            ok = true;
        } finally {
            if (!ok) {
                out.close();
            }
        }
        tokens.put(microBatch, ids);
        return out;
    }

    /**
     * Sequence parallelism: this rank's {@code N/tp} rows {@code [N/tp, C]} of the embedding of the {@code N} ids
     * (a new tensor): the ranks' {@link #partialForward} terms reduce-scattered, tp rank 0's first handed to
     * {@code addOnce} (which may add, e.g., a position embedding to it, once for the sum; null for nothing).
     */
    public Tensor forwardRows(int microBatch, Tensor ids, Consumer<Tensor> addOnce) {
        try (Tensor partial = partialForward(microBatch, ids)) {
            if (addOnce != null && mappings.group().rank() == 0) {
                addOnce.accept(partial);
            }
            Tensor rows = Tensor.allocate(allocator, DType.FP32, Shape.of(ids.numel() / mappings.group().size(),
                    channels), MemoryCategory.ACTIVATIONS, weight.name() + ".rows", backend.stream());
            mappings.reduceScatterToSequenceParallelRegion().forward(partial.reshape(-1, channels), rows);
            return rows;
        }
    }

    /**
     * Sequence parallelism: from this rank's rows {@code [N/tp, C]} of the output gradient, all-gathers the whole
     * {@code dout [..., C]} (shaped like the ids of the forward), hands it to {@code alsoWhole} (e.g. a position
     * embedding's gradient; null for nothing) and accumulates {@code dwte_r} from it.
     */
    public void backwardRows(int microBatch, Tensor doutRows, Consumer<Tensor> alsoWhole) {
        Tensor ids = tokens.get(microBatch);
        if (ids == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in "
                    + weight.name());
        }
        long[] dims = Arrays.copyOf(ids.shape().dims(), ids.shape().rank() + 1);
        dims[dims.length - 1] = channels;
        try (Tensor whole = Tensor.allocate(allocator, DType.FP32, Shape.of(dims), MemoryCategory.ACTIVATIONS,
                weight.name() + ".dout", backend.stream())) {
            mappings.reduceScatterToSequenceParallelRegion().backward(doutRows.reshape(-1, channels),
                    whole.reshape(-1, channels));
            if (alsoWhole != null) {
                alsoWhole.accept(whole);
            }
            backward(microBatch, whole);
        }
    }

    /** Accumulates {@code dwte_r} from {@code dout [..., C]} for the ids this rank owns. */
    public void backward(int microBatch, Tensor dout) {
        Tensor ids = tokens.remove(microBatch);
        if (ids == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in "
                    + weight.name());
        }
        mappings.reduceFromRegion().backward(dout, dout);
        backend.vocabEmbeddingBackward(dout, ids, slice, weight.grad());
    }

    /** Frees the parameter; saved ids are the callers'. */
    @Override
    public void close() {
        tokens.clear();
        weight.close();
    }
}
