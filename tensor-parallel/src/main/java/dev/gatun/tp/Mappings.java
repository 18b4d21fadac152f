package dev.gatun.tp;

import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.Objects;

/**
 * The tensor-parallel regions of Megatron's {@code mappings.py} over one tensor-parallel group, in three layers: raw
 * collectives (private), forward/backward pairs, and one public method per pair naming it. Tensors are
 * {@code [N, C]} row-major (any leading dimensions are folded into {@code N}); "last dimension" splits split
 * {@code C} into {@code tp} contiguous column blocks (rank {@code r} owns block {@code r}); "first dimension"
 * (sequence-parallel) splits split {@code N} into {@code tp} row blocks. A group of size 1 communicates nothing: every
 * op is then the identity (a copy when {@code in} and {@code out} differ) and records no call.
 */
public final class Mappings {
    private final Communicator group;
    private final TensorAllocator allocator;
    private final DeviceStream stream;

    private final Mapping copy = new Pair(this::identity, this::allReduce);
    private final Mapping reduce = new Pair(this::allReduce, this::identity);
    private final Mapping scatter = new Pair(this::splitLast, this::gatherLast);
    private final Mapping gather = new Pair(this::gatherLast, this::splitLast);
    private final Mapping scatterSequence = new Pair(this::splitFirst, this::gatherFirst);
    private final Mapping gatherSequence = new Pair(this::gatherFirst, this::reduceScatterFirst);
    private final Mapping reduceScatterSequence = new Pair(this::reduceScatterFirst, this::gatherFirst);

    /**
     * @param group     the tensor-parallel group
     * @param allocator where the scratch buffer of a last-dimension gather comes from
     * @param stream    the stream copies are ordered on
     */
    public Mappings(Communicator group, TensorAllocator allocator, DeviceStream stream) {
        this.group = Objects.requireNonNull(group, "group must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        this.stream = Objects.requireNonNull(stream, "stream must not be null");
    }

    /** The tensor-parallel group. */
    public Communicator group() {
        return group;
    }

    /** f — forward: identity (copy), backward: all-reduce (sum). Enters a column-parallel region. */
    public Mapping copyToRegion() {
        return copy;
    }

    /** g — forward: all-reduce (sum), backward: identity. Leaves a row-parallel region. */
    public Mapping reduceFromRegion() {
        return reduce;
    }

    /** Forward: split the last dimension (keep this rank's block), backward: all-gather along the last dimension. */
    public Mapping scatterToRegion() {
        return scatter;
    }

    /** Forward: all-gather along the last dimension, backward: split the last dimension. */
    public Mapping gatherFromRegion() {
        return gather;
    }

    /** Forward: split the first dimension (keep this rank's rows), backward: all-gather along the first dimension. */
    public Mapping scatterToSequenceParallelRegion() {
        return scatterSequence;
    }

    /** Forward: all-gather along the first dimension, backward: reduce-scatter (sum) along the first dimension. */
    public Mapping gatherFromSequenceParallelRegion() {
        return gatherSequence;
    }

    /** Forward: reduce-scatter (sum) along the first dimension, backward: all-gather along the first dimension. */
    public Mapping reduceScatterToSequenceParallelRegion() {
        return reduceScatterSequence;
    }

    private record Pair(Op forward, Op backward) implements Mapping {
        @Override
        public void forward(Tensor in, Tensor out) {
            forward.apply(in, out);
        }

        @Override
        public void backward(Tensor dout, Tensor din) {
            backward.apply(dout, din);
        }
    }

    @FunctionalInterface
    private interface Op {
        void apply(Tensor in, Tensor out);
    }

    // Raw collectives. Each checks sizes first, so a wrong shape fails here and not as a hang in the group.

    private void identity(Tensor in, Tensor out) {
        requireNumel(in, out, in.numel());
        if (!sameMemory(in, out)) {
            flat(out).copyFrom(flat(in), stream);
        }
    }

    private void allReduce(Tensor in, Tensor out) {
        if (group.size() == 1) {
            identity(in, out);
            return;
        }
        requireNumel(in, out, in.numel());
        group.allReduce(flat(in), flat(out), ReduceOp.SUM);
    }

    private void splitLast(Tensor in, Tensor out) {
        if (group.size() == 1) {
            identity(in, out);
            return;
        }
        long cols = lastDim(in);
        long part = lastDim(out);
        requireSplit("split last dimension", cols, part, in, out);
        long rows = in.numel() / cols;
        long offset = group.rank() * part;
        for (long n = 0; n < rows; n++) {
            out.flat(n * part, part).copyFrom(in.flat(n * cols + offset, part), stream);
        }
    }

    private void gatherLast(Tensor in, Tensor out) {
        if (group.size() == 1) {
            identity(in, out);
            return;
        }
        long cols = lastDim(out);
        long part = lastDim(in);
        requireSplit("gather last dimension", cols, part, out, in);
        long rows = in.numel() / part;
        try (Tensor blocks = Tensor.allocate(allocator, in.dtype(), Shape.of(out.numel()),
                MemoryCategory.COMMUNICATION, "tp.gatherLast", stream)) {
            group.allGather(flat(in), blocks);
            for (int r = 0; r < group.size(); r++) {
                for (long n = 0; n < rows; n++) {
                    out.flat(n * cols + r * part, part).copyFrom(blocks.flat((r * rows + n) * part, part), stream);
                }
            }
        }
    }

    private void splitFirst(Tensor in, Tensor out) {
        if (group.size() == 1) {
            identity(in, out);
            return;
        }
        requireNumel(out, in, out.numel() * group.size());
        flat(out).copyFrom(in.flat(group.rank() * out.numel(), out.numel()), stream);
    }

    private void gatherFirst(Tensor in, Tensor out) {
        if (group.size() == 1) {
            identity(in, out);
            return;
        }
        requireNumel(in, out, in.numel() * group.size());
        group.allGather(flat(in), flat(out));
    }

    private void reduceScatterFirst(Tensor in, Tensor out) {
        if (group.size() == 1) {
            identity(in, out);
            return;
        }
        requireNumel(out, in, out.numel() * group.size());
        group.reduceScatter(flat(in), flat(out), ReduceOp.SUM);
    }

    private void requireSplit(String what, long cols, long part, Tensor whole, Tensor shard) {
        if (part * group.size() != cols || whole.numel() / cols != shard.numel() / part) {
            throw new IllegalArgumentException(what + ": '" + whole.name() + "' " + whole.shape() + " must be '"
                    + shard.name() + "' " + shard.shape() + " with the last dimension times tp=" + group.size());
        }
    }

    private static void requireNumel(Tensor in, Tensor out, long expected) {
        if (out.numel() != expected) {
            throw new IllegalArgumentException("'" + out.name() + "' " + out.shape() + " must hold " + expected
                    + " elements to pair with '" + in.name() + "' " + in.shape());
        }
    }

    private static long lastDim(Tensor t) {
        return t.shape().dim(t.shape().rank() - 1);
    }

    private static Tensor flat(Tensor t) {
        return t.shape().rank() == 1 ? t : t.flat(0, t.numel());
    }

    private static boolean sameMemory(Tensor a, Tensor b) {
        return a.storage() == b.storage() && a.byteOffset() == b.byteOffset();
    }
}
