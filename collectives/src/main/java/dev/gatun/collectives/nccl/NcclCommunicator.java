package dev.gatun.collectives.nccl;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.Nccl;
import dev.gatun.bindings.NcclUniqueId;
import dev.gatun.collectives.CallLog;
import dev.gatun.collectives.CallRecord;
import dev.gatun.collectives.CollectiveAbortedException;
import dev.gatun.collectives.CollectiveException;
import dev.gatun.collectives.CollectiveTimeoutException;
import dev.gatun.collectives.CommOp;
import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.CommStats;
import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.OpSignature;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.collectives.Work;
import dev.gatun.collectives.launch.RendezvousStore;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceBuffer;
import dev.gatun.memory.DeviceEvent;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A {@link Communicator} over one NCCL communicator ({@code ncclComm_t}) of one rank and GPU. Calls are enqueued on
 * the rank's CUDA stream ({@link #stream()}) and return at once; asynchronous calls ({@link #submit},
 * {@link #groupAsync}) run on a communication stream of their own that first waits (with an event, never a host
 * sync) for the work already on the rank's stream, so computation enqueued afterwards overlaps them;
 * {@link Work#await()} makes the rank's stream wait for the call and blocks the host until it is done.
 *
 * <p><b>No hangs.</b> Every call records an event after it; a watchdog thread polls the events and
 * {@code ncclCommGetAsyncError}. A call still running after the timeout, or an asynchronous NCCL error, aborts the
 * communicator ({@code ncclCommAbort}, which also releases kernels stuck waiting for absent peers); every later call
 * and every {@link Work#await()} then throws the {@link CollectiveException} naming the operation and its sequence
 * number with this rank's recent calls. NCCL does not say which peers were missing, so the exception's arrived and
 * missing rank lists are empty and the message says so.
 */
public final class NcclCommunicator implements Communicator {
    private final String name;
    private final int rank;
    private final int size;
    private final CudaStream stream;
    private final CommOptions options;
    private final MemorySegment comm;
    private final CallLog log;
    private final NcclWatchdog watchdog;
    private final MemorySegment barrierScratch;
    private CudaStream commStream;
    private CudaStream issueStream;
    private int groupDepth;
    private final List<Pending> grouped = new ArrayList<>();
    private boolean closed;

    private NcclCommunicator(String name, MemorySegment comm, CudaStream stream, CommOptions options) {
        this.name = name;
        this.comm = comm;
        this.stream = stream;
        this.options = options;
        this.rank = Nccl.commUserRank(comm);
        this.size = Nccl.commCount(comm);
        this.log = new CallLog(options.logCapacity());
        this.barrierScratch = Cuda.malloc(4);
        this.issueStream = stream;
        this.watchdog = new NcclWatchdog(this, stream.device().ordinal(), options.timeout());
    }

    /**
     * This process's rank of a communicator of {@code size} ranks, one per process, from the unique id that rank 0
     * created ({@link Nccl#uniqueId()}) and shared (e.g. through the rendezvous store); blocks until every rank
     * has joined. The communicator uses {@code stream}'s device.
     */
    public static NcclCommunicator initRank(String name, NcclUniqueId id, int rank, int size, CudaStream stream,
                                            CommOptions options) {
        Objects.requireNonNull(id, "unique id must not be null");
        Cuda.setDevice(stream.device().ordinal());
        return new NcclCommunicator(name, Nccl.commInitRank(size, id, rank), stream, options);
    }

    /**
     * This process's rank of the world its rendezvous {@code store} describes (torchrun's variables): rank 0 creates
     * the unique id and publishes it under {@code nccl-id/<name>}, every other rank reads it (waiting at most the
     * options' timeout), and all join with {@link #initRank(String, NcclUniqueId, int, int, CudaStream, CommOptions)}.
     */
    public static NcclCommunicator initRank(String name, RendezvousStore store, CudaStream stream,
                                            CommOptions options) {
        var env = store.environment();
        Cuda.setDevice(stream.device().ordinal());
        byte[] id = RendezvousStore.broadcastBytes(store.client(), env.rank(), "nccl-id/" + name,
                () -> Nccl.uniqueId().bytes(), options.timeout());
        return initRank(name, new NcclUniqueId(id), env.rank(), env.worldSize(), stream, options);
    }

    /**
     * This process's rank of the MPI job {@code bootstrap} spans (one rank per process and GPU): rank 0 creates the
     * unique id and MPI broadcasts it (no rendezvous store), then all join with
     * {@link #initRank(String, NcclUniqueId, int, int, CudaStream, CommOptions)} at their MPI rank.
     */
    public static NcclCommunicator initRank(String name, dev.gatun.collectives.mpi.MpiCommunicator bootstrap,
                                            CudaStream stream, CommOptions options) {
        Cuda.setDevice(stream.device().ordinal());
        byte[] id = bootstrap.broadcastBytes(0, () -> Nccl.uniqueId().bytes(), NcclUniqueId.BYTES);
        return initRank(name, new NcclUniqueId(id), bootstrap.rank(), bootstrap.size(), stream, options);
    }

    /**
     * One communicator per stream, all in this process, rank {@code i} on {@code streams.get(i)}'s device
     * ({@code ncclCommInitAll}); then each rank's thread uses its own.
     */
    public static List<NcclCommunicator> initAll(String name, List<CudaStream> streams, CommOptions options) {
        int[] devices = streams.stream().mapToInt(s -> s.device().ordinal()).toArray();
        List<MemorySegment> comms = Nccl.commInitAll(devices);
        List<NcclCommunicator> out = new ArrayList<>();
        for (int i = 0; i < comms.size(); i++) {
            Cuda.setDevice(devices[i]);
            out.add(new NcclCommunicator(name, comms.get(i), streams.get(i), options));
        }
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
        long seq = prepare(op);
        enqueue(op, issueStream);
        if (groupDepth > 0) {
            grouped.add(new Pending(seq, op.signature(), null, 0)); // NCCL enqueues a group's calls at ncclGroupEnd

            return;
        }
        watchdog.watch(seq, op.signature(), issueStream.record());
        if (op instanceof CommOp.Barrier) {
            awaitSequence(seq);
        }
    }

    @Override
    public Work submit(CommOp op) {
        if (groupDepth > 0) {
            execute(op);
            return watchdog.workFor(log.issued() - 1, stream);
        }
        CudaStream comms = communicationStream();
        orderAfterRankStream(comms);
        long seq = prepare(op);
        op.tensors().forEach(t -> recordUse(t, comms));
        enqueue(op, comms);
        watchdog.watch(seq, op.signature(), comms.record());
        return watchdog.workFor(seq, stream);
    }

    @Override
    public void group(Runnable calls) {
        runGroup(calls, issueStream);
    }

    @Override
    public Work groupAsync(Runnable calls) {
        if (groupDepth > 0) {
            group(calls);
            return watchdog.workFor(log.issued() - 1, stream);
        }
        CudaStream comms = communicationStream();
        orderAfterRankStream(comms);
        long before = log.issued();
        runGroup(calls, comms);
        if (log.issued() == before) {
            return watchdog.workFor(-1, stream); // nothing was issued: done at once
        }
        return watchdog.workFor(log.issued() - 1, stream);
    }

    /** {@code comms} waits for the work on the rank's stream; the event is destroyed at once (CUDA keeps the wait). */
    private void orderAfterRankStream(CudaStream comms) {
        try (DeviceEvent ready = stream.record()) {
            comms.waitFor(ready);
        }
    }

    private void runGroup(Runnable calls, CudaStream on) {
        checkUsable();
        CudaStream previous = issueStream;
        issueStream = on;
        groupDepth++;
        Nccl.groupStart();
        try {
            calls.run();
        } finally {
            groupDepth--;
            if (groupDepth == 0) {
                Nccl.groupEnd();
                grouped.forEach(g -> watchdog.watch(g.seq(), g.call(), on.record()));
                grouped.clear();
            } else {
                Nccl.groupEnd();
            }
            issueStream = previous;
        }
    }

    @Override
    public Communicator split(int color, int key, String newName) {
        if (color < 0) {
            throw new IllegalArgumentException("split: color must be >= 0, got " + color);
        }
        checkUsable();
        long seq = log.issue(OpSignature.withoutData(dev.gatun.collectives.OpType.SPLIT));
        log.started(seq);
        MemorySegment child = Nccl.commSplit(comm, color, key);
        log.finished(seq, true);
        return new NcclCommunicator(newName, child, stream, options);
    }

    @Override
    public List<CallRecord> recentCalls() {
        return log.recent();
    }

    @Override
    public CommStats stats() {
        return log.stats();
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Cuda.setDevice(stream.device().ordinal());
        boolean clean = watchdog.drain();
        watchdog.stop();
        if (clean) {
            Nccl.commDestroy(comm);
        } else if (!watchdog.aborted()) {
            Nccl.commAbort(comm);
        }
        Cuda.free(barrierScratch);
        if (commStream != null) {
            commStream.close();
        }
    }

    /** The NCCL handle, for the watchdog's abort and error polling. */
    MemorySegment handle() {
        return comm;
    }

    CallLog log() {
        return log;
    }

    /** The exception for call {@code seq} when it timed out, with the recent calls. */
    CollectiveException timeout(long seq, OpSignature call) {
        return new CollectiveTimeoutException(call.type().label() + " #" + seq + " (" + call + ") on '" + name
                + "' rank " + rank + " of " + size + " did not complete within " + options.timeout()
                + "; NCCL does not report which peers were missing; the communicator was aborted (ncclCommAbort)."
                + "\nrecent calls of rank " + rank + ":\n" + log.dump(16), null, name, rank, seq, call, List.of(),
                List.of());
    }

    /** The exception for an asynchronous NCCL error seen while call {@code seq} was outstanding. */
    CollectiveException asyncError(long seq, OpSignature call, int result) {
        return new CollectiveAbortedException("NCCL reported " + Nccl.resultName(result) + " ("
                + Nccl.errorString(result) + ") on '" + name + "' rank " + rank + " while " + call.type().label()
                + " #" + seq + " was outstanding; the communicator was aborted.\nrecent calls of rank " + rank + ":\n"
                + log.dump(16), null, name, rank, seq, call, List.of(), List.of());
    }

    private long prepare(CommOp op) {
        Objects.requireNonNull(op, "op must not be null");
        checkUsable();
        op.check(rank, size);
        for (Tensor t : op.tensors()) {
            if (!t.device().equals(stream.device())) {
                throw new IllegalArgumentException(op.signature().type().label() + " on '" + name + "': tensor '"
                        + t.name() + "' is on " + t.device() + ", this rank's NCCL communicator on " + stream.device());
            }
            dataType(t.dtype());
        }
        long seq = log.issue(op.signature());
        log.started(seq);
        return seq;
    }

    private void enqueue(CommOp op, CudaStream on) {
        Cuda.setDevice(on.device().ordinal());
        MemorySegment s = on.handle();
        switch (op) {
            case CommOp.AllReduce(Tensor in, Tensor out, ReduceOp r) ->
                    Nccl.allReduce(ptr(in), ptr(out), in.numel(), dataType(in.dtype()), reduce(r), comm, s);
            case CommOp.ReduceScatter(Tensor in, Tensor out, ReduceOp r) ->
                    Nccl.reduceScatter(ptr(in), ptr(out), out.numel(), dataType(in.dtype()), reduce(r), comm, s);
            case CommOp.AllGather(Tensor in, Tensor out) ->
                    Nccl.allGather(ptr(in), ptr(out), in.numel(), dataType(in.dtype()), comm, s);
            case CommOp.Broadcast(Tensor in, Tensor out, int root) ->
                    Nccl.broadcast(ptr(in), ptr(out), out.numel(), dataType(out.dtype()), root, comm, s);
            case CommOp.Reduce(Tensor in, Tensor out, ReduceOp r, int root) ->
                    Nccl.reduce(ptr(in), ptr(out), in.numel(), dataType(in.dtype()), reduce(r), root, comm, s);
            case CommOp.Send(Tensor t, int peer) -> Nccl.send(ptr(t), t.numel(), dataType(t.dtype()), peer, comm, s);
            case CommOp.Recv(Tensor t, int peer) -> Nccl.recv(ptr(t), t.numel(), dataType(t.dtype()), peer, comm, s);
            case CommOp.Barrier() -> Nccl.allReduce(barrierScratch, barrierScratch, 1, Nccl.DataType.INT32,
                    Nccl.ReduceOp.SUM, comm, s);
        }
    }

    private void awaitSequence(long seq) {
        watchdog.workFor(seq, stream).await();
    }

    private CudaStream communicationStream() {
        if (commStream == null) {
            commStream = new CudaStream(stream.device());
        }
        return commStream;
    }

    private static void recordUse(Tensor t, CudaStream on) {
        if (t.storage() instanceof DeviceBuffer buffer && buffer.stream() != on) {
            buffer.recordStream(on);
        }
    }

    private void checkUsable() {
        CollectiveException failure = watchdog.failure();
        if (failure != null) {
            throw failure;
        }
        if (closed) {
            throw new IllegalStateException("NCCL communicator '" + name + "' (rank " + rank + ") is closed");
        }
    }

    private static MemorySegment ptr(Tensor t) {
        return MemorySegment.ofAddress(t.deviceAddress());
    }

    static Nccl.DataType dataType(DType dtype) {
        return switch (dtype) {
            case FP32 -> Nccl.DataType.FP32;
            case BF16 -> Nccl.DataType.BF16;
            case FP16 -> Nccl.DataType.FP16;
            case INT32 -> Nccl.DataType.INT32;
            case INT64 -> Nccl.DataType.INT64;
        };
    }

    static Nccl.ReduceOp reduce(ReduceOp op) {
        return switch (op) {
            case SUM -> Nccl.ReduceOp.SUM;
            case AVG -> Nccl.ReduceOp.AVG;
            case MAX -> Nccl.ReduceOp.MAX;
            case MIN -> Nccl.ReduceOp.MIN;
        };
    }

    @Override
    public String toString() {
        return "NcclCommunicator['" + name + "' rank " + rank + " of " + size + " on " + stream.device() + "]";
    }

    /** A call awaiting completion: its event (recorded after it; null while its group is open) and deadline. */
    record Pending(long seq, OpSignature call, DeviceEvent done, long deadlineNanos) {
    }
}
