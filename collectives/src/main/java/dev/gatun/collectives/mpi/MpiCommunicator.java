package dev.gatun.collectives.mpi;

import dev.gatun.bindings.Mpi;
import dev.gatun.collectives.CallLog;
import dev.gatun.collectives.CallRecord;
import dev.gatun.collectives.CollectiveAbortedException;
import dev.gatun.collectives.CollectiveTimeoutException;
import dev.gatun.collectives.CommOp;
import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.CommStats;
import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.OpSignature;
import dev.gatun.collectives.OpType;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.collectives.Work;
import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.LockSupport;

/**
 * A {@link Communicator} over an MPI communicator of this process (one rank per process, host tensors): NCCL's
 * semantics on MPI's nonblocking calls. Every call is issued nonblocking ({@code MPI_Iallreduce},
 * {@code MPI_Ireduce_scatter_block}, {@code MPI_Iallgather}, {@code MPI_Ibcast}, {@code MPI_Ireduce},
 * {@code MPI_Isend}/{@code MPI_Irecv}, {@code MPI_Ibarrier}); a blocking call and {@link Work#await()} poll it with
 * {@code MPI_Test} until it completes. A group posts its calls and completes them together, so paired sends and
 * receives cannot deadlock. Where MPI has no equivalent the communicator makes it: averages are sums divided by the
 * size; bf16/fp16 are reduced in fp32 and rounded back (MPI has no such types), moved as bytes otherwise; outputs that
 * alias their input go through MPI's in-place form or a staging buffer.
 *
 * <p><b>No hangs.</b> A call not complete within the options' timeout fails: this rank writes the operation, its
 * sequence number, the ranks of the communicator and its recent calls to standard error, then ends the whole job
 * with {@code MPI_Abort}, so that no rank is left waiting for it.
 */
public final class MpiCommunicator implements Communicator {
    /** Exit code of a job aborted by a timeout. */
    public static final int TIMEOUT_EXIT_CODE = 124;

    private final String name;
    private final MemorySegment comm;
    private final boolean owned;
    private final int rank;
    private final int size;
    private final DeviceStream stream;
    private final CommOptions options;
    private final CallLog log;
    private final List<Pending> grouped = new ArrayList<>();
    private int groupDepth;
    private boolean closed;

    private MpiCommunicator(String name, MemorySegment comm, boolean owned, DeviceStream stream, CommOptions options) {
        this.name = name;
        this.comm = comm;
        this.owned = owned;
        this.stream = stream;
        this.options = options;
        this.rank = Mpi.commRank(comm);
        this.size = Mpi.commSize(comm);
        this.log = new CallLog(options.logCapacity());
    }

    /**
     * This process's rank of {@code MPI_COMM_WORLD}, initialising MPI (thread level SERIALIZED: the rank's calls may
     * come from any one thread at a time) when it is not yet. {@code stream} is the host stream of its tensors.
     *
     * @throws UnsupportedOperationException when the MPI library is not Open MPI 4 or 5
     * @throws dev.gatun.bindings.MpiException when MPI cannot start or lacks thread support
     */
    public static MpiCommunicator world(DeviceStream stream, CommOptions options) {
        Objects.requireNonNull(stream, "stream must not be null");
        Objects.requireNonNull(options, "options must not be null");
        Mpi.initThread(Mpi.ThreadLevel.SERIALIZED);
        return new MpiCommunicator("world", Mpi.commWorld(), false, stream, options);
    }

    /**
     * {@code length} bytes from rank {@code root} to every rank ({@code MPI_Bcast}), within the timeout: e.g. NCCL's
     * unique id, made on the root by {@code onRoot} (called only there), so that no rendezvous store is needed.
     *
     * @throws IllegalArgumentException when the root's bytes are not {@code length} long
     */
    public byte[] broadcastBytes(int root, java.util.function.Supplier<byte[]> onRoot, int length) {
        checkUsable();
        if (root < 0 || root >= size) {
            throw new IllegalArgumentException("broadcast root " + root + " is outside [0, " + size + ")");
        }
        MemorySegment buffer = Arena.ofAuto().allocate(Math.max(1, length));
        if (rank == root) {
            byte[] value = onRoot.get();
            if (value.length != length) {
                throw new IllegalArgumentException("the root's bytes are " + value.length + " long, not " + length);
            }
            MemorySegment.copy(value, 0, buffer, ValueLayout.JAVA_BYTE, 0, length);
        }
        var call = new OpSignature(OpType.BROADCAST, null, length, root, -1, null, length); // raw bytes: no dtype
        long seq = log.issue(call);
        log.started(seq);
        Pending p = new Pending(seq, call, System.nanoTime() + options.timeout().toNanos());
        p.requests.add(Mpi.ibcast(buffer, length, Mpi.DataType.BYTE, root, comm));
        complete(p);
        byte[] out = new byte[length];
        MemorySegment.copy(buffer, ValueLayout.JAVA_BYTE, 0, out, 0, length);
        return out;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public DeviceStream stream() {
        return stream;
    }

    @Override
    public void execute(CommOp op) {
        Pending p = start(op);
        if (groupDepth > 0) {
            grouped.add(p);
        } else {
            complete(p);
        }
    }

    @Override
    public Work submit(CommOp op) {
        if (groupDepth > 0) {
            execute(op);
            return done();
        }
        Pending p = start(op);
        return new Work() {
            @Override
            public void await() {
                complete(p);
            }

            @Override
            public boolean isDone() {
                return p.finished || p.requests.stream().allMatch(Mpi::test);
            }
        };
    }

    @Override
    public void group(Runnable calls) {
        checkUsable();
        groupDepth++;
        try {
            calls.run();
        } finally {
            groupDepth--;
        }
        if (groupDepth == 0) {
            List<Pending> all = List.copyOf(grouped);
            grouped.clear();
            for (Pending p : all) {
                complete(p);
            }
        }
    }

    /** Runs the group at once (its calls complete together), so the work returned is done. */
    @Override
    public Work groupAsync(Runnable calls) {
        group(calls);
        return done();
    }

    @Override
    public Communicator split(int color, int key, String newName) {
        if (color < 0) {
            throw new IllegalArgumentException("split: color must be >= 0, got " + color);
        }
        checkUsable();
        long seq = log.issue(OpSignature.withoutData(OpType.SPLIT));
        log.started(seq);
        MemorySegment child = Mpi.commSplit(comm, color, key);
        log.finished(seq, true);
        return new MpiCommunicator(newName, child, true, stream, options);
    }

    @Override
    public List<CallRecord> recentCalls() {
        return log.recent();
    }

    @Override
    public CommStats stats() {
        return log.stats();
    }

    /** Frees a split communicator ({@code MPI_Comm_free}); the world stays MPI's until it is finalised. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (owned) {
            Mpi.commFree(comm);
        }
    }

    private static Work done() {
        return new Work() {
            @Override
            public void await() {
            }

            @Override
            public boolean isDone() {
                return true;
            }
        };
    }

    /** A call issued: its requests, what runs once they complete, and the arena of its staging buffers. */
    private static final class Pending {
        final long seq;
        final OpSignature call;
        final List<Mpi.Request> requests = new ArrayList<>();
        final List<Runnable> after = new ArrayList<>();
        final Arena arena = Arena.ofAuto(); // staging buffers, freed by the collector once the call is done
        final long deadline;
        boolean finished;

        Pending(long seq, OpSignature call, long deadline) {
            this.seq = seq;
            this.call = call;
            this.deadline = deadline;
        }
    }

    private Pending start(CommOp op) {
        Objects.requireNonNull(op, "op must not be null");
        checkUsable();
        op.check(rank, size);
        for (Tensor t : op.tensors()) {
            if (!t.device().equals(Device.CPU)) {
                throw new IllegalArgumentException(op.signature().type().label() + " on '" + name + "': tensor '"
                        + t.name() + "' is on " + t.device() + "; the MPI backend moves host tensors (use NCCL for "
                        + "GPUs)");
            }
        }
        long seq = log.issue(op.signature());
        log.started(seq);
        Pending p = new Pending(seq, op.signature(), System.nanoTime() + options.timeout().toNanos());
        try {
            issue(op, p);
        } catch (RuntimeException | Error e) {
            log.finished(seq, false);
            throw e;
        }
        return p;
    }

    private void issue(CommOp op, Pending p) {
        switch (op) {
            case CommOp.AllReduce(Tensor in, Tensor out, ReduceOp r) -> {
                Buffer b = reduceBuffer(out, p);
                MemorySegment send = in.hostSegment().address() == out.hostSegment().address() && b.direct()
                        ? Mpi.IN_PLACE : stageInput(in, reduceBuffer(in, p));
                p.requests.add(Mpi.iallreduce(send, b.segment(), b.count(), b.type(), mpiOp(r), comm));
                finishReduction(out, b, r, p);
            }
            case CommOp.ReduceScatter(Tensor in, Tensor out, ReduceOp r) -> {
                Buffer b = overlaps(in, out) ? staging(out, p) : reduceBuffer(out, p);
                MemorySegment send = stageInput(in, reduceBuffer(in, p));
                p.requests.add(Mpi.ireduceScatterBlock(send, b.segment(), b.count(), b.type(), mpiOp(r), comm));
                finishReduction(out, b, r, p);
            }
            case CommOp.AllGather(Tensor in, Tensor out) -> {
                Buffer b = moveBuffer(out, p);
                MemorySegment send = overlaps(in, out) ? copyOf(in, p) : in.hostSegment();
                p.requests.add(Mpi.iallgather(send, b.segment(), moveCount(in), b.type(), comm));
            }
            case CommOp.Broadcast(Tensor in, Tensor out, int root) -> {
                if (rank == root && in.hostSegment().address() != out.hostSegment().address()) {
                    out.hostSegment().copyFrom(in.hostSegment());
                }
                Buffer b = moveBuffer(out, p);
                p.requests.add(Mpi.ibcast(b.segment(), b.count(), b.type(), root, comm));
            }
            case CommOp.Reduce(Tensor in, Tensor out, ReduceOp r, int root) -> {
                Buffer b = reduceBuffer(out, p);
                MemorySegment send = rank == root && in.hostSegment().address() == out.hostSegment().address()
                        && b.direct() ? Mpi.IN_PLACE : stageInput(in, reduceBuffer(in, p));
                p.requests.add(Mpi.ireduce(send, b.segment(), b.count(), b.type(), mpiOp(r), root, comm));
                if (rank == root) {
                    finishReduction(out, b, r, p);
                }
            }
            case CommOp.Send(Tensor t, int peer) ->
                    p.requests.add(Mpi.isend(t.hostSegment(), moveCount(t), moveType(t), peer, 0, comm));
            case CommOp.Recv(Tensor t, int peer) ->
                    p.requests.add(Mpi.irecv(t.hostSegment(), moveCount(t), moveType(t), peer, 0, comm));
            case CommOp.Barrier() -> p.requests.add(Mpi.ibarrier(comm));
        }
    }

    /** Where a reduction's result goes: the tensor itself (fp32, int32, int64) or an fp32 staging buffer. */
    private record Buffer(MemorySegment segment, int count, Mpi.DataType type, boolean direct) {
    }

    private static Buffer reduceBuffer(Tensor t, Pending p) {
        Mpi.DataType type = reduceType(t);
        return type == moveType(t) ? new Buffer(t.hostSegment(), count(t), type, true) : staging(t, p);
    }

    /** What MPI reduces {@code t} as: its own type, or fp32 for bf16/fp16 (which MPI does not have). */
    private static Mpi.DataType reduceType(Tensor t) {
        return moveType(t) == Mpi.DataType.BYTE ? Mpi.DataType.FP32 : moveType(t);
    }

    /** A buffer of {@code t}'s reduction type of its own: for bf16/fp16, and for outputs that alias their input. */
    private static Buffer staging(Tensor t, Pending p) {
        Mpi.DataType type = reduceType(t);
        return new Buffer(p.arena.allocate((long) count(t) * type.bytes(), 8), count(t), type, false);
    }

    /** The send buffer of a reduction: the tensor, or its values in the staging buffer {@code b}. */
    private MemorySegment stageInput(Tensor in, Buffer b) {
        if (b.direct()) {
            return in.hostSegment();
        }
        float[] values = in.toFloatArray(stream);
        MemorySegment.copy(values, 0, b.segment(), ValueLayout.JAVA_FLOAT, 0, values.length);
        return b.segment();
    }

    /** After a reduction into {@code b}: the average's division, and the copy back into {@code out} if staged. */
    private void finishReduction(Tensor out, Buffer b, ReduceOp r, Pending p) {
        p.after.add(() -> {
            if (r == ReduceOp.AVG) {
                divide(b, size);
            }
            if (b.segment().address() == out.hostSegment().address()) {
                return;
            }
            if (b.type() == Mpi.DataType.FP32 && out.dtype() != DType.FP32) {
                float[] values = new float[b.count()];
                MemorySegment.copy(b.segment(), ValueLayout.JAVA_FLOAT, 0, values, 0, values.length);
                out.copyFrom(values, stream);
            } else {
                out.hostSegment().copyFrom(b.segment().asSlice(0, out.byteSize()));
            }
        });
    }

    private static void divide(Buffer b, int n) {
        MemorySegment s = b.segment();
        switch (b.type()) {
            case FP32 -> {
                for (long i = 0; i < b.count(); i++) {
                    s.setAtIndex(ValueLayout.JAVA_FLOAT, i, s.getAtIndex(ValueLayout.JAVA_FLOAT, i) / n);
                }
            }
            case INT32 -> {
                for (long i = 0; i < b.count(); i++) {
                    s.setAtIndex(ValueLayout.JAVA_INT, i, s.getAtIndex(ValueLayout.JAVA_INT, i) / n);
                }
            }
            case INT64 -> {
                for (long i = 0; i < b.count(); i++) {
                    s.setAtIndex(ValueLayout.JAVA_LONG, i, s.getAtIndex(ValueLayout.JAVA_LONG, i) / n);
                }
            }
            default -> throw new IllegalStateException("no average of " + b.type());
        }
    }

    /** Moves (no arithmetic) go as the tensor's bytes for bf16/fp16, else in its own type. */
    private static Buffer moveBuffer(Tensor t, Pending p) {
        return new Buffer(t.hostSegment(), moveCount(t), moveType(t), true);
    }

    private static Mpi.DataType moveType(Tensor t) {
        return switch (t.dtype()) {
            case FP32 -> Mpi.DataType.FP32;
            case INT32 -> Mpi.DataType.INT32;
            case INT64 -> Mpi.DataType.INT64;
            case BF16, FP16 -> Mpi.DataType.BYTE;
        };
    }

    private static int moveCount(Tensor t) {
        return moveType(t) == Mpi.DataType.BYTE ? Math.toIntExact(t.byteSize()) : count(t);
    }

    private static int count(Tensor t) {
        if (t.numel() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("tensor '" + t.name() + "' has " + t.numel() + " elements; one MPI call "
                    + "moves at most " + Integer.MAX_VALUE + " (split it into buckets)");
        }
        return (int) t.numel();
    }

    private static MemorySegment copyOf(Tensor t, Pending p) {
        MemorySegment s = p.arena.allocate(t.byteSize(), 8);
        s.copyFrom(t.hostSegment());
        return s;
    }

    private static boolean overlaps(Tensor a, Tensor b) {
        long a0 = a.hostSegment().address();
        long b0 = b.hostSegment().address();
        return a0 < b0 + b.byteSize() && b0 < a0 + a.byteSize();
    }

    private static Mpi.ReduceOp mpiOp(ReduceOp op) {
        return switch (op) {
            case SUM, AVG -> Mpi.ReduceOp.SUM;
            case MAX -> Mpi.ReduceOp.MAX;
            case MIN -> Mpi.ReduceOp.MIN;
        };
    }

    /** Polls the call's requests until they complete or its deadline passes; then runs what follows it. */
    private void complete(Pending p) {
        if (p.finished) {
            return;
        }
        int polls = 0;
        for (Mpi.Request r : p.requests) {
            while (!test(r, p)) {
                if (System.nanoTime() > p.deadline) {
                    timeOut(p);
                }
                if (++polls > 1_000) {
                    LockSupport.parkNanos(20_000);
                } else {
                    Thread.onSpinWait();
                }
            }
        }
        p.after.forEach(Runnable::run);
        p.finished = true;
        log.finished(p.seq, true);
    }

    /** {@code MPI_Test}, an MPI error (e.g. ranks whose calls disagree in size) named as this call's failure. */
    private boolean test(Mpi.Request r, Pending p) {
        try {
            return Mpi.test(r);
        } catch (dev.gatun.bindings.MpiException e) {
            log.finished(p.seq, false);
            throw new CollectiveAbortedException(p.call.type().label() + " #" + p.seq + " (" + p.call + ") on '"
                    + name + "' rank " + rank + " of " + size + " (ranks 0.." + (size - 1) + ") failed in MPI: "
                    + e.getMessage() + " (do the ranks make the same calls with the same sizes?)\nrecent calls of "
                    + "rank " + rank + ":\n" + log.dump(16), e, name, rank, p.seq, p.call, List.of(), List.of());
        }
    }

    /** Says which call timed out on which ranks, then ends the job: MPI cannot cancel a collective in flight. */
    private void timeOut(Pending p) {
        var e = new CollectiveTimeoutException(p.call.type().label() + " #" + p.seq + " (" + p.call + ") on '" + name
                + "' rank " + rank + " of " + size + " (ranks 0.." + (size - 1) + ") did not complete within "
                + options.timeout() + "; MPI does not say which peers are missing; ending the job with MPI_Abort so "
                + "that no rank waits for it.\nrecent calls of rank " + rank + ":\n" + log.dump(16), null, name, rank,
                p.seq, p.call, List.of(), List.of());
        System.err.println("gatun: " + e.getMessage());
        System.err.flush();
        Mpi.abort(Mpi.commWorld(), TIMEOUT_EXIT_CODE);
        throw e; // MPI_Abort does not return; should it, the caller still fails
    }

    private void checkUsable() {
        if (closed) {
            throw new IllegalStateException("MPI communicator '" + name + "' (rank " + rank + ") is closed");
        }
    }

    @Override
    public String toString() {
        return "MpiCommunicator['" + name + "' rank " + rank + " of " + size + "]";
    }
}
