package dev.gatun.bindings;

import dev.gatun.bindings.raw.mpi.mpi_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

/**
 * Status-checked facade over MPI ({@code libmpi}), Open MPI 4.x and 5.x: its handles ({@code MPI_Comm},
 * {@code MPI_Datatype}, {@code MPI_Op}, {@code MPI_Request}) are pointers, the predefined ones the addresses of the
 * global variables {@code ompi_mpi_*}. Other implementations (MPICH, Intel MPI, MVAPICH: integer handles) are refused
 * by {@link #requireSupported()} with the version string they report, before anything is called on them.
 *
 * <p>Every call checks its status and throws {@link MpiException} with MPI's own message; {@link #initThread} makes
 * errors on the world communicator return ({@code MPI_ERRORS_RETURN}) instead of aborting the job. Counts are in
 * elements of the datatype. A {@link Request} is a nonblocking call's handle, completed by {@link #test} or
 * {@link #await}.
 */
public final class Mpi {
    /** {@code MPI_IN_PLACE}: the send buffer argument that says "the receive buffer holds my contribution". */
    public static final MemorySegment IN_PLACE = MemorySegment.ofAddress(1);

    private Mpi() {
    }

    /** Element type of a call. */
    public enum DataType {
        BYTE(1), INT32(4), INT64(8), FP32(4), FP64(8);

        private final int bytes;

        DataType(int bytes) {
            this.bytes = bytes;
        }

        /** The bytes of one element. */
        public int bytes() {
            return bytes;
        }

        MemorySegment handle() {
            return switch (this) {
                case BYTE -> mpi_h.ompi_mpi_byte$segment();
                case INT32 -> mpi_h.ompi_mpi_int$segment();
                case INT64 -> mpi_h.ompi_mpi_long$segment();
                case FP32 -> mpi_h.ompi_mpi_float$segment();
                case FP64 -> mpi_h.ompi_mpi_double$segment();
            };
        }
    }

    /** Reduction of a call (MPI has no average: sum and divide). */
    public enum ReduceOp {
        SUM, PROD, MAX, MIN;

        MemorySegment handle() {
            return switch (this) {
                case SUM -> mpi_h.ompi_mpi_op_sum$segment();
                case PROD -> mpi_h.ompi_mpi_op_prod$segment();
                case MAX -> mpi_h.ompi_mpi_op_max$segment();
                case MIN -> mpi_h.ompi_mpi_op_min$segment();
            };
        }
    }

    /** Whether libmpi can be loaded here (the reason is {@link #unavailableReason()} otherwise). */
    public static boolean isAvailable() {
        return NativeLibraries.find(NativeLibrary.MPI).isPresent();
    }

    /** Why libmpi cannot be loaded, every place tried; empty when it can. */
    public static String unavailableReason() {
        return NativeLibraries.failure(NativeLibrary.MPI).map(Throwable::getMessage).orElse("");
    }

    /** {@code MPI_Get_library_version}: e.g. {@code "Open MPI v4.1.4, package: ..."}; callable before init. */
    public static String libraryVersion() {
        NativeLibraries.require(NativeLibrary.MPI);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocate(mpi_h.MPI_MAX_LIBRARY_VERSION_STRING() + 1L);
            MemorySegment length = arena.allocate(ValueLayout.JAVA_INT);
            check("MPI_Get_library_version", mpi_h.MPI_Get_library_version(text, length));
            return text.getString(0).strip();
        }
    }

    /**
     * Checks that the loaded MPI is Open MPI 4 or 5, the implementation whose handles these bindings know.
     *
     * @throws UnsupportedOperationException naming the implementation found and what is supported
     */
    public static void requireSupported() {
        String version = libraryVersion();
        String first = version.lines().findFirst().orElse(version);
        if (!(first.startsWith("Open MPI v4.") || first.startsWith("Open MPI v5."))) {
            throw new UnsupportedOperationException("the MPI library loaded (" + NativeLibraries.require(
                    NativeLibrary.MPI).path() + ") is '" + first + "'; Gatun's MPI backend supports Open MPI 4.x and "
                    + "5.x (its handles are pointers); MPICH-derived implementations (MPICH, Intel MPI, MVAPICH) use "
                    + "integer handles and are not supported: install Open MPI (Debian: openmpi-bin libopenmpi-dev) "
                    + "or point -Dgatun.library.mpi at its libmpi.so.40");
        }
    }

    /** Threading levels of {@link #initThread}. */
    public enum ThreadLevel {
        SINGLE, FUNNELED, SERIALIZED, MULTIPLE;

        static ThreadLevel of(int code) {
            if (code == mpi_h.MPI_THREAD_SINGLE()) {
                return SINGLE;
            } else if (code == mpi_h.MPI_THREAD_FUNNELED()) {
                return FUNNELED;
            } else if (code == mpi_h.MPI_THREAD_SERIALIZED()) {
                return SERIALIZED;
            }
            return MULTIPLE;
        }

        int code() {
            return switch (this) {
                case SINGLE -> mpi_h.MPI_THREAD_SINGLE();
                case FUNNELED -> mpi_h.MPI_THREAD_FUNNELED();
                case SERIALIZED -> mpi_h.MPI_THREAD_SERIALIZED();
                case MULTIPLE -> mpi_h.MPI_THREAD_MULTIPLE();
            };
        }
    }

    /**
     * {@code MPI_Init_thread} asking for {@code required}, then {@code MPI_ERRORS_RETURN} on the world. Idempotent:
     * when MPI is already initialised it returns the level it has.
     *
     * @throws MpiException when the library gives less than {@code required} (built without thread support)
     */
    public static ThreadLevel initThread(ThreadLevel required) {
        requireSupported();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flag = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment provided = arena.allocate(ValueLayout.JAVA_INT);
            check("MPI_Initialized", mpi_h.MPI_Initialized(flag));
            if (flag.get(ValueLayout.JAVA_INT, 0) != 0) {
                check("MPI_Query_thread", mpi_h.MPI_Query_thread(provided));
            } else {
                check("MPI_Init_thread", mpi_h.MPI_Init_thread(MemorySegment.NULL, MemorySegment.NULL,
                        required.code(), provided));
                check("MPI_Comm_set_errhandler", mpi_h.MPI_Comm_set_errhandler(commWorld(),
                        mpi_h.ompi_mpi_errors_return$segment()));
            }
            ThreadLevel got = ThreadLevel.of(provided.get(ValueLayout.JAVA_INT, 0));
            if (got.compareTo(required) < 0) {
                throw new MpiException("MPI_Init_thread", 0, "the MPI library gives thread level " + got
                        + " where " + required + " is needed: use an MPI built with thread support (Open MPI's "
                        + "default builds have it)");
            }
            return got;
        }
    }

    /** Whether MPI is initialised and not yet finalised. */
    public static boolean isInitialized() {
        NativeLibraries.require(NativeLibrary.MPI);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment init = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment fin = arena.allocate(ValueLayout.JAVA_INT);
            check("MPI_Initialized", mpi_h.MPI_Initialized(init));
            check("MPI_Finalized", mpi_h.MPI_Finalized(fin));
            return init.get(ValueLayout.JAVA_INT, 0) != 0 && fin.get(ValueLayout.JAVA_INT, 0) == 0;
        }
    }

    /** {@code MPI_Finalize}, once; later calls do nothing. */
    public static synchronized void finish() {
        if (isInitialized()) {
            check("MPI_Finalize", mpi_h.MPI_Finalize());
        }
    }

    /** {@code MPI_COMM_WORLD}. */
    public static MemorySegment commWorld() {
        return mpi_h.ompi_mpi_comm_world$segment();
    }

    /** {@code MPI_Comm_rank}. */
    public static int commRank(MemorySegment comm) {
        return intOut("MPI_Comm_rank", out -> mpi_h.MPI_Comm_rank(comm, out));
    }

    /** {@code MPI_Comm_size}. */
    public static int commSize(MemorySegment comm) {
        return intOut("MPI_Comm_size", out -> mpi_h.MPI_Comm_size(comm, out));
    }

    /** {@code MPI_Comm_split}: the new communicator of the ranks of {@code comm} that pass {@code color}. */
    public static MemorySegment commSplit(MemorySegment comm, int color, int key) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            check("MPI_Comm_split", mpi_h.MPI_Comm_split(comm, color, key, out));
            MemorySegment child = out.get(ValueLayout.ADDRESS, 0);
            check("MPI_Comm_set_errhandler", mpi_h.MPI_Comm_set_errhandler(child,
                    mpi_h.ompi_mpi_errors_return$segment()));
            return child;
        }
    }

    /** {@code MPI_Comm_free}. */
    public static void commFree(MemorySegment comm) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment handle = arena.allocate(ValueLayout.ADDRESS);
            handle.set(ValueLayout.ADDRESS, 0, comm);
            check("MPI_Comm_free", mpi_h.MPI_Comm_free(handle));
        }
    }

    /** {@code MPI_Abort}: ends every process of {@code comm}'s job with {@code code}; does not return. */
    public static void abort(MemorySegment comm, int code) {
        mpi_h.MPI_Abort(comm, code);
    }

    /**
     * A nonblocking call's {@code MPI_Request}, completed by {@link #test} or {@link #await}; its slot is freed by the
     * garbage collector once unreachable (keep the request while the call is in flight).
     */
    public static final class Request {
        private final MemorySegment slot = Arena.ofAuto().allocate(ValueLayout.ADDRESS);
        private boolean done;

        MemorySegment slot() {
            return slot;
        }

        /** Whether the call has completed (a {@link #test} said so). */
        public boolean isDone() {
            return done;
        }
    }

    /** {@code MPI_Test}: whether {@code request} has completed (then it is {@code MPI_REQUEST_NULL}). */
    public static boolean test(Request request) {
        if (request.done) {
            return true;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flag = arena.allocate(ValueLayout.JAVA_INT);
            check("MPI_Test", mpi_h.MPI_Test(request.slot(), flag, MemorySegment.NULL));
            request.done = flag.get(ValueLayout.JAVA_INT, 0) != 0;
            return request.done;
        }
    }

    /** {@code MPI_Wait}: blocks until {@code request} has completed. */
    public static void await(Request request) {
        if (!request.done) {
            check("MPI_Wait", mpi_h.MPI_Wait(request.slot(), MemorySegment.NULL));
            request.done = true;
        }
    }

    /** {@code MPI_Iallreduce}; {@code send} may be {@link #IN_PLACE}. */
    public static Request iallreduce(MemorySegment send, MemorySegment recv, int count, DataType type, ReduceOp op,
                                     MemorySegment comm) {
        Request r = new Request();
        check("MPI_Iallreduce", mpi_h.MPI_Iallreduce(send, recv, count, type.handle(), op.handle(), comm, r.slot()));
        return r;
    }

    /** {@code MPI_Ireduce_scatter_block}: {@code recvCount} elements per rank. */
    public static Request ireduceScatterBlock(MemorySegment send, MemorySegment recv, int recvCount, DataType type,
                                              ReduceOp op, MemorySegment comm) {
        Request r = new Request();
        check("MPI_Ireduce_scatter_block", mpi_h.MPI_Ireduce_scatter_block(send, recv, recvCount, type.handle(),
                op.handle(), comm, r.slot()));
        return r;
    }

    /** {@code MPI_Iallgather}: {@code count} elements from each rank, in rank order. */
    public static Request iallgather(MemorySegment send, MemorySegment recv, int count, DataType type,
                                     MemorySegment comm) {
        Request r = new Request();
        check("MPI_Iallgather", mpi_h.MPI_Iallgather(send, count, type.handle(), recv, count, type.handle(), comm,
                r.slot()));
        return r;
    }

    /** {@code MPI_Ibcast} of {@code buffer} from {@code root}. */
    public static Request ibcast(MemorySegment buffer, int count, DataType type, int root, MemorySegment comm) {
        Request r = new Request();
        check("MPI_Ibcast", mpi_h.MPI_Ibcast(buffer, count, type.handle(), root, comm, r.slot()));
        return r;
    }

    /** {@code MPI_Ireduce} to {@code root}; {@code send} may be {@link #IN_PLACE} on the root. */
    public static Request ireduce(MemorySegment send, MemorySegment recv, int count, DataType type, ReduceOp op,
                                  int root, MemorySegment comm) {
        Request r = new Request();
        check("MPI_Ireduce", mpi_h.MPI_Ireduce(send, recv, count, type.handle(), op.handle(), root, comm, r.slot()));
        return r;
    }

    /** {@code MPI_Isend} to {@code peer} with {@code tag}. */
    public static Request isend(MemorySegment buf, int count, DataType type, int peer, int tag, MemorySegment comm) {
        Request r = new Request();
        check("MPI_Isend", mpi_h.MPI_Isend(buf, count, type.handle(), peer, tag, comm, r.slot()));
        return r;
    }

    /** {@code MPI_Irecv} from {@code peer} with {@code tag}. */
    public static Request irecv(MemorySegment buf, int count, DataType type, int peer, int tag, MemorySegment comm) {
        Request r = new Request();
        check("MPI_Irecv", mpi_h.MPI_Irecv(buf, count, type.handle(), peer, tag, comm, r.slot()));
        return r;
    }

    /** {@code MPI_Ibarrier}. */
    public static Request ibarrier(MemorySegment comm) {
        Request r = new Request();
        check("MPI_Ibarrier", mpi_h.MPI_Ibarrier(comm, r.slot()));
        return r;
    }

    /** MPI's message for an error code ({@code MPI_Error_string}). */
    public static String errorString(int code) {
        if (!NativeLibraries.isLoaded(NativeLibrary.MPI)) {
            return "no description: MPI is not loaded";
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocate(mpi_h.MPI_MAX_ERROR_STRING() + 1L);
            MemorySegment length = arena.allocate(ValueLayout.JAVA_INT);
            if (mpi_h.MPI_Error_string(code, text, length) != mpi_h.MPI_SUCCESS()) {
                return "MPI error " + code;
            }
            return text.getString(0);
        }
    }

    @FunctionalInterface
    private interface IntCall {
        int call(MemorySegment out);
    }

    private static int intOut(String function, IntCall call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
            check(function, call.call(out));
            return out.get(ValueLayout.JAVA_INT, 0);
        }
    }

    private static void check(String function, int code) {
        if (code != mpi_h.MPI_SUCCESS()) {
            throw new MpiException(function, code, errorString(code).toLowerCase(Locale.ROOT));
        }
    }
}
