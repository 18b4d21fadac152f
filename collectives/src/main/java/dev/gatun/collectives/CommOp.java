package dev.gatun.collectives;

import dev.gatun.memory.Tensor;

import java.util.List;
import java.util.Objects;

/**
 * One communication call as data: what {@link Communicator#execute} and {@link Communicator#submit} take. The
 * named methods of {@link Communicator} ({@code allReduce}, {@code send}, …) build these. {@code N} is the size of
 * the communicator, {@code r} the calling rank, {@code in_q}/{@code out_q} the buffers rank {@code q} passes.
 *
 * <p>Each record rejects, when built, what is wrong whatever the communicator (null, in/out of different dtypes or
 * sizes, buffers that overlap without being the in-place arrangement); {@link #check(int, int)} rejects what depends
 * on the rank and size (ranges of roots and peers, sizes that must be multiples of {@code N}). Communicators call it
 * before issuing anything. "In place" means the very same memory (same storage and offset), as in NCCL.
 */
public sealed interface CommOp {
    /** What every rank must agree on, and what is recorded. */
    OpSignature signature();

    /**
     * Checks the call against the rank {@code rank} of a communicator of {@code size} ranks.
     *
     * @throws IllegalArgumentException saying what was expected
     */
    void check(int rank, int size);

    /** The tensors the call reads or writes: {@code (in, out)} for collectives with both, else the one or none. */
    List<Tensor> tensors();

    /**
     * All-reduce: {@code out_r = in_0 ⊕ in_1 ⊕ … ⊕ in_(N−1)} for every rank {@code r}, element by element, with
     * {@code in} and {@code out} of the same dtype and element count; {@code in == out} works in place.
     */
    record AllReduce(Tensor in, Tensor out, ReduceOp op) implements CommOp {
        public AllReduce {
            requireSameKind("allReduce", in, out);
            Objects.requireNonNull(op, "allReduce: reduce op must not be null");
        }

        @Override
        public OpSignature signature() {
            return new OpSignature(OpType.ALL_REDUCE, in.dtype(), in.numel(), -1, -1, op, in.byteSize());
        }

        @Override
        public void check(int rank, int size) {
        }

        @Override
        public List<Tensor> tensors() {
            return List.of(in, out);
        }
    }

    /**
     * Reduce-scatter: with {@code m = out.numel} and {@code in.numel = N·m},
     * {@code out_r = (in_0 ⊕ … ⊕ in_(N−1))[r·m, (r+1)·m)}. In place when {@code out} is {@code in.flat(r·m, m)}.
     */
    record ReduceScatter(Tensor in, Tensor out, ReduceOp op) implements CommOp {
        public ReduceScatter {
            requireDtypes("reduceScatter", in, out);
            Objects.requireNonNull(op, "reduceScatter: reduce op must not be null");
        }

        @Override
        public OpSignature signature() {
            return new OpSignature(OpType.REDUCE_SCATTER, in.dtype(), out.numel(), -1, -1, op, in.byteSize());
        }

        @Override
        public void check(int rank, int size) {
            requireMultiple("reduceScatter", rank, size, "in", in, "out", out);
            requireShardInPlaceOrApart("reduceScatter", rank, in, out);
        }

        @Override
        public List<Tensor> tensors() {
            return List.of(in, out);
        }
    }

    /**
     * All-gather: with {@code m = in.numel} and {@code out.numel = N·m}, {@code out_r = concat(in_0, …, in_(N−1))},
     * so {@code out_r[q·m, (q+1)·m) = in_q}. In place when {@code in} is {@code out.flat(r·m, m)}.
     */
    record AllGather(Tensor in, Tensor out) implements CommOp {
        public AllGather {
            requireDtypes("allGather", in, out);
        }

        @Override
        public OpSignature signature() {
            return new OpSignature(OpType.ALL_GATHER, in.dtype(), in.numel(), -1, -1, null, out.byteSize());
        }

        @Override
        public void check(int rank, int size) {
            requireMultiple("allGather", rank, size, "out", out, "in", in);
            requireShardInPlaceOrApart("allGather", rank, out, in);
        }

        @Override
        public List<Tensor> tensors() {
            return List.of(in, out);
        }
    }

    /**
     * Broadcast: {@code out_r = in_root} for every rank {@code r}; {@code in} is read on the root only (other ranks
     * may pass {@code out} for it).
     */
    record Broadcast(Tensor in, Tensor out, int root) implements CommOp {
        public Broadcast {
            requireSameKind("broadcast", in, out);
        }

        @Override
        public OpSignature signature() {
            return new OpSignature(OpType.BROADCAST, in.dtype(), in.numel(), root, -1, null, in.byteSize());
        }

        @Override
        public void check(int rank, int size) {
            requireRank("broadcast", rank, size, "root", root);
        }

        @Override
        public List<Tensor> tensors() {
            return List.of(in, out);
        }
    }

    /**
     * Reduce: {@code out_root = in_0 ⊕ … ⊕ in_(N−1)}; {@code out} is written on the root only.
     */
    record Reduce(Tensor in, Tensor out, ReduceOp op, int root) implements CommOp {
        public Reduce {
            requireSameKind("reduce", in, out);
            Objects.requireNonNull(op, "reduce: reduce op must not be null");
        }

        @Override
        public OpSignature signature() {
            return new OpSignature(OpType.REDUCE, in.dtype(), in.numel(), root, -1, op, in.byteSize());
        }

        @Override
        public void check(int rank, int size) {
            requireRank("reduce", rank, size, "root", root);
        }

        @Override
        public List<Tensor> tensors() {
            return List.of(in, out);
        }
    }

    /** Send: {@code tensor} goes to the matching {@link Recv} on rank {@code peer}, which must name this rank. */
    record Send(Tensor tensor, int peer) implements CommOp {
        public Send {
            Objects.requireNonNull(tensor, "send: tensor must not be null");
        }

        @Override
        public OpSignature signature() {
            return new OpSignature(OpType.SEND, tensor.dtype(), tensor.numel(), -1, peer, null, tensor.byteSize());
        }

        @Override
        public void check(int rank, int size) {
            requirePeer("send", rank, size, peer);
        }

        @Override
        public List<Tensor> tensors() {
            return List.of(tensor);
        }
    }

    /**
     * Recv: {@code tensor} receives the matching {@link Send} from rank {@code peer}, of the same dtype and count.
     * Sends and recvs between two ranks match in the order they were called.
     */
    record Recv(Tensor tensor, int peer) implements CommOp {
        public Recv {
            Objects.requireNonNull(tensor, "recv: tensor must not be null");
        }

        @Override
        public OpSignature signature() {
            return new OpSignature(OpType.RECV, tensor.dtype(), tensor.numel(), -1, peer, null, tensor.byteSize());
        }

        @Override
        public void check(int rank, int size) {
            requirePeer("recv", rank, size, peer);
        }

        @Override
        public List<Tensor> tensors() {
            return List.of(tensor);
        }
    }

    /** Barrier: returns on each rank only once every rank has called it. */
    record Barrier() implements CommOp {
        @Override
        public OpSignature signature() {
            return OpSignature.withoutData(OpType.BARRIER);
        }

        @Override
        public void check(int rank, int size) {
        }

        @Override
        public List<Tensor> tensors() {
            return List.of();
        }
    }

    private static void requireDtypes(String op, Tensor in, Tensor out) {
        Objects.requireNonNull(in, op + ": in must not be null");
        Objects.requireNonNull(out, op + ": out must not be null");
        if (in.dtype() != out.dtype()) {
            throw new IllegalArgumentException(op + ": in '" + in.name() + "' is " + in.dtype().shortName()
                    + " but out '" + out.name() + "' is " + out.dtype().shortName()
                    + ": in and out must have the same dtype");
        }
    }

    private static void requireSameKind(String op, Tensor in, Tensor out) {
        requireDtypes(op, in, out);
        if (in.numel() != out.numel()) {
            throw new IllegalArgumentException(op + ": in '" + in.name() + "' has " + in.numel()
                    + " elements but out '" + out.name() + "' has " + out.numel() + ": they must have as many");
        }
        if (overlaps(in, out) && in.byteOffset() != out.byteOffset()) {
            throw new IllegalArgumentException(op + ": in and out overlap in '" + in.name()
                    + "' without being the same memory: pass the same tensor for in place, or separate buffers");
        }
    }

    private static void requireMultiple(String op, int rank, int size, String bigName, Tensor big,
                                        String smallName, Tensor small) {
        if (big.numel() != (long) size * small.numel()) {
            throw new IllegalArgumentException(op + " on rank " + rank + " of " + size + ": " + bigName + " '"
                    + big.name() + "' has " + big.numel() + " elements, but must have size × " + smallName
                    + ".numel = " + size + " × " + small.numel() + " = " + (long) size * small.numel());
        }
    }

    /** The shard may be the rank's own slice of the whole buffer (in place) or lie apart from it. */
    private static void requireShardInPlaceOrApart(String op, int rank, Tensor whole, Tensor shard) {
        long ownSlice = whole.byteOffset() + rank * shard.byteSize();
        if (overlaps(whole, shard) && shard.byteOffset() != ownSlice) {
            throw new IllegalArgumentException(op + " on rank " + rank + ": '" + shard.name()
                    + "' overlaps the whole buffer without being this rank's slice of it (flat(" + rank + " × "
                    + shard.numel() + ", " + shard.numel() + ")): use that slice for in place, or separate buffers");
        }
    }

    private static void requireRank(String op, int rank, int size, String what, int value) {
        if (value < 0 || value >= size) {
            throw new IllegalArgumentException(op + " on rank " + rank + " of " + size + ": " + what + " " + value
                    + " is outside [0, " + size + ")");
        }
    }

    private static void requirePeer(String op, int rank, int size, int peer) {
        requireRank(op, rank, size, "peer", peer);
        if (peer == rank) {
            throw new IllegalArgumentException(op + " on rank " + rank + ": peer " + peer
                    + " is this rank; a rank cannot " + op + " to or from itself: copy the tensor instead");
        }
    }

    private static boolean overlaps(Tensor a, Tensor b) {
        return a.storage() == b.storage()
                && a.byteOffset() < b.byteOffset() + b.byteSize()
                && b.byteOffset() < a.byteOffset() + a.byteSize();
    }
}
