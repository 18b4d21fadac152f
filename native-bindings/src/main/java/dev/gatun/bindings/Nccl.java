package dev.gatun.bindings;

import dev.gatun.bindings.raw.nccl.nccl_h;
import dev.gatun.bindings.raw.nccl.ncclUniqueId;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Status-checked facade over NCCL ({@code libnccl}). Errors throw {@link NcclException} with NCCL's message and,
 * where a communicator is involved, its {@code ncclGetLastError} detail. Collectives are enqueued on a CUDA stream
 * and return at once; counts are in elements of {@code dataType}.
 */
public final class Nccl {
    private static final Set<String> RESULT_NAMES = Set.of("ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError",
            "ncclInternalError", "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress");
    private static final StatusNames NAMES = new StatusNames(nccl_h.class, "ncclResult_t", RESULT_NAMES::contains);

    private Nccl() {
    }

    /** Element type of a collective ({@code ncclDataType_t}). */
    public enum DataType {
        INT8(nccl_h.ncclInt8()), UINT8(nccl_h.ncclUint8()), INT32(nccl_h.ncclInt32()), UINT32(nccl_h.ncclUint32()),
        INT64(nccl_h.ncclInt64()), UINT64(nccl_h.ncclUint64()), FP16(nccl_h.ncclFloat16()),
        FP32(nccl_h.ncclFloat32()), FP64(nccl_h.ncclFloat64()), BF16(nccl_h.ncclBfloat16());

        final int code;

        DataType(int code) {
            this.code = code;
        }
    }

    /** Reduction of a collective ({@code ncclRedOp_t}). */
    public enum ReduceOp {
        SUM(nccl_h.ncclSum()), PROD(nccl_h.ncclProd()), MAX(nccl_h.ncclMax()), MIN(nccl_h.ncclMin()),
        AVG(nccl_h.ncclAvg());

        final int code;

        ReduceOp(int code) {
            this.code = code;
        }
    }

    /** NCCL's name of a result code. */
    public static String resultName(int result) {
        return NAMES.name(result);
    }

    /** NCCL's description of a result code ({@code ncclGetErrorString}). */
    public static String errorString(int result) {
        if (NativeLibraries.isLoaded(NativeLibrary.NCCL)) {
            return nccl_h.ncclGetErrorString(result).getString(0);
        }
        return "no description: NCCL is not loaded";
    }

    /** The exception for a result code, with the communicator's last-error detail when there is one. */
    public static NcclException exception(String function, int result, String detail) {
        return new NcclException(function, result, resultName(result), errorString(result), detail);
    }

    static void check(int result, String function) {
        if (result != nccl_h.ncclSuccess()) {
            throw exception(function, result, lastError(MemorySegment.NULL));
        }
    }

    private static void check(int result, String function, MemorySegment comm) {
        if (result != nccl_h.ncclSuccess()) {
            throw exception(function, result, lastError(comm));
        }
    }

    private static void ensureLoaded() {
        NativeLibraries.require(NativeLibrary.NCCL);
    }

    /** NCCL's last error text for a communicator (or the last global one for {@code NULL}), "" when none. */
    public static String lastError(MemorySegment comm) {
        if (!NativeLibraries.isLoaded(NativeLibrary.NCCL)) {
            return "";
        }
        MemorySegment s = nccl_h.ncclGetLastError(comm == null ? MemorySegment.NULL : comm);
        return s.equals(MemorySegment.NULL) ? "" : s.getString(0);
    }

    /** The library's version code, e.g. 22703 for 2.27.3. */
    public static int version() {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check(nccl_h.ncclGetVersion(v), "ncclGetVersion");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** A version code as text: 22703 → "2.27.3" (codes below 2.9 use the older x*1000+y*100+z form). */
    public static String versionString(int code) {
        if (code < 20900) {
            return code / 1000 + "." + (code % 1000) / 100 + "." + code % 100;
        }
        return code / 10000 + "." + (code % 10000) / 100 + "." + code % 100;
    }

    /** A new unique id (rank 0 creates it and sends it to the other ranks). */
    public static NcclUniqueId uniqueId() {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment id = ncclUniqueId.allocate(arena);
            check(nccl_h.ncclGetUniqueId(id), "ncclGetUniqueId");
            return new NcclUniqueId(ncclUniqueId.internal(id).toArray(ValueLayout.JAVA_BYTE));
        }
    }

    /** Creates this rank's communicator of {@code nranks} on the current device; blocks until all ranks join. */
    public static MemorySegment commInitRank(int nranks, NcclUniqueId id, int rank) {
        if (nranks < 1 || rank < 0 || rank >= nranks) {
            throw new IllegalArgumentException("rank must be in [0, nranks) and nranks >= 1, got rank=" + rank
                    + " nranks=" + nranks);
        }
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment comm = arena.allocate(ValueLayout.ADDRESS);
            MemorySegment idSegment = ncclUniqueId.allocate(arena);
            MemorySegment.copy(id.bytes(), 0, idSegment, ValueLayout.JAVA_BYTE, 0, NcclUniqueId.BYTES);
            check(nccl_h.ncclCommInitRank(comm, nranks, idSegment, rank), "ncclCommInitRank");
            return comm.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Creates one communicator per listed device, all in this process ({@code ncclCommInitAll}). */
    public static List<MemorySegment> commInitAll(int[] devices) {
        if (devices == null || devices.length == 0) {
            throw new IllegalArgumentException("commInitAll needs at least one device");
        }
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment comms = arena.allocate(ValueLayout.ADDRESS, devices.length);
            check(nccl_h.ncclCommInitAll(comms, devices.length, arena.allocateFrom(ValueLayout.JAVA_INT, devices)),
                    "ncclCommInitAll");
            List<MemorySegment> out = new ArrayList<>(devices.length);
            for (int i = 0; i < devices.length; i++) {
                out.add(comms.getAtIndex(ValueLayout.ADDRESS, i));
            }
            return out;
        }
    }

    /**
     * Splits a communicator: ranks passing the same {@code color} form one new communicator, ordered by {@code key};
     * a negative color ({@code NCCL_SPLIT_NOCOLOR}) joins none and gets {@code NULL}. Collective over {@code comm}.
     */
    public static MemorySegment commSplit(MemorySegment comm, int color, int key) {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int c = color < 0 ? nccl_h.NCCL_SPLIT_NOCOLOR() : color;
            check(nccl_h.ncclCommSplit(Arguments.handle(comm, "communicator"), c, key, out, MemorySegment.NULL),
                    "ncclCommSplit", comm);
            return out.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Destroys a communicator after its work completes. */
    public static void commDestroy(MemorySegment comm) {
        ensureLoaded();
        check(nccl_h.ncclCommDestroy(Arguments.handle(comm, "communicator")), "ncclCommDestroy");
    }

    /** Aborts a communicator's outstanding work and frees it (for errors and timeouts). */
    public static void commAbort(MemorySegment comm) {
        ensureLoaded();
        check(nccl_h.ncclCommAbort(Arguments.handle(comm, "communicator")), "ncclCommAbort");
    }

    /** The communicator's asynchronous error: {@code ncclSuccess} (0), {@code ncclInProgress}, or a failure code. */
    public static int commAsyncError(MemorySegment comm) {
        return intQuery(comm, nccl_h::ncclCommGetAsyncError, "ncclCommGetAsyncError");
    }

    /** Whether a {@link #commAsyncError} code is a failure: neither {@code ncclSuccess} nor {@code ncclInProgress}. */
    public static boolean isAsyncFailure(int result) {
        return result != nccl_h.ncclSuccess() && result != nccl_h.ncclInProgress();
    }

    /** Number of ranks in the communicator. */
    public static int commCount(MemorySegment comm) {
        return intQuery(comm, nccl_h::ncclCommCount, "ncclCommCount");
    }

    /** The CUDA device the communicator uses. */
    public static int commCuDevice(MemorySegment comm) {
        return intQuery(comm, nccl_h::ncclCommCuDevice, "ncclCommCuDevice");
    }

    /** This rank's index in the communicator. */
    public static int commUserRank(MemorySegment comm) {
        return intQuery(comm, nccl_h::ncclCommUserRank, "ncclCommUserRank");
    }

    /** A communicator query that writes one int: {@code ncclResult_t f(ncclComm_t comm, int *out)}. */
    private interface IntQuery {
        int call(MemorySegment comm, MemorySegment out);
    }

    private static int intQuery(MemorySegment comm, IntQuery query, String function) {
        ensureLoaded();
        Arguments.handle(comm, "communicator");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check(query.call(comm, v), function, comm);
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** {@code recv[i] = op over ranks of send[i]} for {@code count} elements; in place when send == recv. */
    public static void allReduce(MemorySegment send, MemorySegment recv, long count, DataType type, ReduceOp op,
                                 MemorySegment comm, MemorySegment stream) {
        collectiveArgs(send, recv, count, comm);
        check(nccl_h.ncclAllReduce(send, recv, count, type.code, op.code, comm, Arguments.stream(stream)),
                "ncclAllReduce", comm);
    }

    /** Rank r receives the reduction of block r ({@code recvCount} elements) of every rank's send buffer. */
    public static void reduceScatter(MemorySegment send, MemorySegment recv, long recvCount, DataType type,
                                     ReduceOp op, MemorySegment comm, MemorySegment stream) {
        collectiveArgs(send, recv, recvCount, comm);
        check(nccl_h.ncclReduceScatter(send, recv, recvCount, type.code, op.code, comm, Arguments.stream(stream)),
                "ncclReduceScatter", comm);
    }

    /** Block r of every rank's receive buffer is rank r's {@code sendCount} elements. */
    public static void allGather(MemorySegment send, MemorySegment recv, long sendCount, DataType type,
                                 MemorySegment comm, MemorySegment stream) {
        collectiveArgs(send, recv, sendCount, comm);
        check(nccl_h.ncclAllGather(send, recv, sendCount, type.code, comm, Arguments.stream(stream)),
                "ncclAllGather", comm);
    }

    /** Copies {@code root}'s send buffer into every rank's receive buffer. */
    public static void broadcast(MemorySegment send, MemorySegment recv, long count, DataType type, int root,
                                 MemorySegment comm, MemorySegment stream) {
        collectiveArgs(send, recv, count, comm);
        check(nccl_h.ncclBroadcast(send, recv, count, type.code, root, comm, Arguments.stream(stream)),
                "ncclBroadcast", comm);
    }

    /** Reduces every rank's send buffer into {@code root}'s receive buffer. */
    public static void reduce(MemorySegment send, MemorySegment recv, long count, DataType type, ReduceOp op,
                              int root, MemorySegment comm, MemorySegment stream) {
        collectiveArgs(send, recv, count, comm);
        check(nccl_h.ncclReduce(send, recv, count, type.code, op.code, root, comm, Arguments.stream(stream)),
                "ncclReduce", comm);
    }

    /** Sends {@code count} elements to {@code peer} (pair with its {@link #recv}; group them to avoid deadlock). */
    public static void send(MemorySegment send, long count, DataType type, int peer, MemorySegment comm,
                            MemorySegment stream) {
        collectiveArgs(send, send, count, comm);
        check(nccl_h.ncclSend(send, count, type.code, peer, comm, Arguments.stream(stream)), "ncclSend", comm);
    }

    /** Receives {@code count} elements from {@code peer}. */
    public static void recv(MemorySegment recv, long count, DataType type, int peer, MemorySegment comm,
                            MemorySegment stream) {
        collectiveArgs(recv, recv, count, comm);
        check(nccl_h.ncclRecv(recv, count, type.code, peer, comm, Arguments.stream(stream)), "ncclRecv", comm);
    }

    /** Starts a group: the calls until {@link #groupEnd()} are issued as one. */
    public static void groupStart() {
        ensureLoaded();
        check(nccl_h.ncclGroupStart(), "ncclGroupStart");
    }

    /** Ends a group and issues its calls. */
    public static void groupEnd() {
        ensureLoaded();
        check(nccl_h.ncclGroupEnd(), "ncclGroupEnd");
    }

    private static void collectiveArgs(MemorySegment send, MemorySegment recv, long count, MemorySegment comm) {
        Arguments.nonNegative(count, "element count");
        Arguments.handle(send, "send buffer");
        Arguments.handle(recv, "receive buffer");
        Arguments.handle(comm, "communicator");
        ensureLoaded();
    }
}
