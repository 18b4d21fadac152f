package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Token embedding with the table {@code wte [V, C]} split along the vocabulary (Megatron's
 * {@code VocabParallelEmbedding}): rank {@code r} holds rows {@code [r·V/tp, (r+1)·V/tp)}. Forward: each rank writes
 * the rows of the ids it owns and zeros for the others, then {@link Mappings#reduceFromRegion() g} (all-reduce SUM)
 * gives {@code out[n] = wte[id_n]} on every rank. Backward (g's is the identity): {@code dwte[id_n − offset] += dout[n]}
 * for the owned ids only. Host (CPU) tensors only: the loops run in Java over host memory.
 */
public final class VocabParallelEmbedding implements AutoCloseable {
    private final int vocab;
    private final int channels;
    private final Shard shard;
    private final Mappings mappings;
    private final TensorAllocator allocator;
    private final DeviceStream stream;
    private final Parameter weight;
    private final Map<Integer, Tensor> tokens = new HashMap<>();

    /**
     * @param name the parameter is {@code name + ".weight"}, initialised {@code N(0, 0.02²)} by global index
     * @throws IllegalArgumentException when tp does not divide {@code vocab}
     */
    public VocabParallelEmbedding(int vocab, int channels, Mappings mappings, TensorAllocator allocator,
                                  DeviceStream stream, String name, long seed) {
        this.shard = Shard.of("vocab", vocab, mappings.group().size(), mappings.group().rank());
        this.vocab = vocab;
        this.channels = channels;
        this.mappings = mappings;
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        this.stream = Objects.requireNonNull(stream, "stream must not be null");
        long offset = (long) shard.offset() * channels;
        this.weight = Parameter.gaussian(allocator, stream, name + ".weight", Shape.of(shard.size(), channels),
                Shape.of(vocab, channels), seed,
                0.02, i -> offset + i);
    }

    /** {@code wte_r [V/tp, C]} and its gradient. */
    public Parameter weight() {
        return weight;
    }

    /** The vocabulary ids this rank's rows cover. */
    public Shard vocabShard() {
        return shard;
    }

    /** int32 {@code ids [...]} in {@code [0, V)} (kept by reference until the backward) give a new {@code [..., C]}. */
    public Tensor forward(int microBatch, Tensor ids) {
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
        MemorySegment t = ids.hostSegment();
        int n = Math.toIntExact(ids.numel());
        for (int i = 0; i < n; i++) {
            int id = t.getAtIndex(ValueLayout.JAVA_INT, i);
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("token id " + id + " at position " + i + " is outside [0, "
                        + vocab + ")");
            }
        }
        Tensor out = Tensor.allocate(allocator, DType.FP32, Shape.of(outDims), MemoryCategory.ACTIVATIONS,
                weight.name() + ".out", stream);
        MemorySegment o = out.hostSegment();
        MemorySegment w = weight.value().hostSegment();
        long rowBytes = (long) channels * Float.BYTES;
        for (int i = 0; i < n; i++) {
            int id = t.getAtIndex(ValueLayout.JAVA_INT, i);
            if (shard.contains(id)) {
                MemorySegment.copy(w, (id - shard.offset()) * rowBytes, o, i * rowBytes, rowBytes);
            } else {
                o.asSlice(i * rowBytes, rowBytes).fill((byte) 0);
            }
        }
        mappings.reduceFromRegion().forward(out, out);
        tokens.put(microBatch, ids);
        return out;
    }

    /** Accumulates {@code dwte_r} from {@code dout [..., C]} for the ids this rank owns. */
    public void backward(int microBatch, Tensor dout) {
        Tensor ids = tokens.remove(microBatch);
        if (ids == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in "
                    + weight.name());
        }
        mappings.reduceFromRegion().backward(dout, dout);
        MemorySegment t = ids.hostSegment();
        MemorySegment d = dout.hostSegment();
        MemorySegment g = weight.grad().hostSegment();
        int n = Math.toIntExact(ids.numel());
        for (int i = 0; i < n; i++) {
            int id = t.getAtIndex(ValueLayout.JAVA_INT, i);
            if (shard.contains(id)) {
                long row = (long) (id - shard.offset()) * channels;
                for (int c = 0; c < channels; c++) {
                    g.setAtIndex(ValueLayout.JAVA_FLOAT, row + c, g.getAtIndex(ValueLayout.JAVA_FLOAT, row + c)
                            + d.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * channels + c));
                }
            }
        }
    }

    /** Frees the parameter; saved ids are the callers'. */
    @Override
    public void close() {
        tokens.clear();
        weight.close();
    }
}
