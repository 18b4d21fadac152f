package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * All-reduces many small tensors with few calls: Horovod's tensor fusion. Consecutive tensors of one dtype are
 * copied into a fusion buffer of {@code thresholdBytes} while they fit, the buffer is all-reduced once, and the
 * results are copied back; a tensor larger than the buffer is all-reduced in place on its own. So
 * {@code t_r = ⊕_q t_q} for every tensor, as with one {@link Communicator#allReduce(Tensor, ReduceOp)} per tensor,
 * with about {@code Σ bytes / thresholdBytes} calls instead of one per tensor. Every rank must pass tensors of the
 * same dtypes and sizes in the same order.
 *
 * <p>One fusion buffer per dtype is allocated on first use and kept until {@link #close}. Used by one rank's thread,
 * like its communicator.
 */
public final class TensorFusion implements AutoCloseable {
    /** Horovod's default {@code HOROVOD_FUSION_THRESHOLD}, 64 MiB. */
    public static final long DEFAULT_THRESHOLD_BYTES = 64L << 20;

    private final Communicator comm;
    private final TensorAllocator allocator;
    private final long thresholdBytes;
    private final Map<DType, Tensor> buffers = new EnumMap<>(DType.class);

    /**
     * @throws IllegalArgumentException when {@code thresholdBytes} is not positive
     */
    public TensorFusion(Communicator comm, TensorAllocator allocator, long thresholdBytes) {
        this.comm = Objects.requireNonNull(comm, "comm must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        if (thresholdBytes <= 0) {
            throw new IllegalArgumentException("fusion threshold must be positive, got " + thresholdBytes + " bytes");
        }
        this.thresholdBytes = thresholdBytes;
    }

    /**
     * All-reduces every tensor of {@code tensors} in place with {@code op}, fusing as described above.
     *
     * @throws IllegalArgumentException when a tensor is on another device than the allocator's
     */
    public void allReduce(List<Tensor> tensors, ReduceOp op) {
        Objects.requireNonNull(tensors, "tensors must not be null");
        Objects.requireNonNull(op, "op must not be null");
        for (Tensor t : tensors) {
            if (!t.device().equals(allocator.device())) {
                throw new IllegalArgumentException("'" + t.name() + "' is on " + t.device()
                        + " but the fusion buffer allocator is for " + allocator.device());
            }
        }
        int i = 0;
        while (i < tensors.size()) {
            Tensor t = tensors.get(i);
            if (t.byteSize() > thresholdBytes) {
                comm.allReduce(t, op);
                i++;
                continue;
            }
            DType dtype = t.dtype();
            long capacity = thresholdBytes / dtype.byteSize();
            int end = i;
            long used = 0;
            while (end < tensors.size() && tensors.get(end).dtype() == dtype
                    && used + tensors.get(end).numel() <= capacity) {
                used += tensors.get(end).numel();
                end++;
            }
            fused(tensors.subList(i, end), used, op);
            i = end;
        }
    }

    /** Frees the fusion buffers. */
    @Override
    public void close() {
        buffers.values().forEach(Tensor::close);
        buffers.clear();
    }

    private void fused(List<Tensor> group, long numel, ReduceOp op) {
        if (group.size() == 1) {
            comm.allReduce(group.getFirst(), op);
            return;
        }
        DType dtype = group.getFirst().dtype();
        Tensor buffer = buffers.computeIfAbsent(dtype, d -> Tensor.allocate(allocator, d,
                Shape.of(thresholdBytes / d.byteSize()), MemoryCategory.COMMUNICATION,
                comm.name() + ".fusion." + d.shortName(), comm.stream()));
        long offset = 0;
        for (Tensor t : group) {
            buffer.flat(offset, t.numel()).copyFrom(t.reshape(t.numel()), comm.stream());
            offset += t.numel();
        }
        Tensor used = buffer.flat(0, numel);
        comm.allReduce(used, op);
        offset = 0;
        for (Tensor t : group) {
            t.reshape(t.numel()).copyFrom(buffer.flat(offset, t.numel()), comm.stream());
            offset += t.numel();
        }
    }
}
