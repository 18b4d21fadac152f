package dev.gatun.collectives;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * {@code N} ranks as {@code N} threads of one JVM, sharing host memory: the CPU backend of {@link Communicator}.
 * {@link #run} starts one thread per rank and hands each its {@code "world"} communicator; sub-communicators come
 * from {@link Communicator#split} (as {@link DeviceMesh#groups} does).
 *
 * <p>Reductions are spread over the ranks: rank {@code r} reduces its own span of the elements over every rank's
 * input, in rank order (so results are deterministic for a given world size) and writes it into every rank's output.
 * Every wait is bounded by {@link CommOptions#timeout()}. When a rank's body throws, the world is aborted: every
 * rank waiting in, or later making, a call fails with a {@link CollectiveAbortedException} whose cause is that
 * failure, and the rank threads are interrupted, so nothing hangs.
 *
 * <pre>{@code
 * List<float[]> sums = InProcessWorld.run(4, world -> {
 *     Tensor t = ...;                     // this rank's values
 *     world.allReduce(t, ReduceOp.SUM);   // now the sum over the 4 ranks
 *     return t.toFloatArray(world.stream());
 * });
 * }</pre>
 */
public final class InProcessWorld implements AutoCloseable {
    /** The name of the communicator over all ranks. */
    public static final String WORLD = "world";

    private final int size;
    private final CommOptions options;
    private final List<InProcessGroup> groups = new CopyOnWriteArrayList<>();
    private final List<InProcessCommunicator> handles = new CopyOnWriteArrayList<>();
    private final InProcessCommunicator[] world;

    /** A world of {@code size} ranks with {@link CommOptions#DEFAULT}. */
    public InProcessWorld(int size) {
        this(size, CommOptions.DEFAULT);
    }

    /** A world of {@code size} ranks whose communicators use {@code options}. */
    public InProcessWorld(int size, CommOptions options) {
        if (size < 1) {
            throw new IllegalArgumentException("a world needs at least 1 rank, got " + size);
        }
        this.size = size;
        this.options = Objects.requireNonNull(options, "options must not be null");
        InProcessGroup shared = newGroup(WORLD, size, options);
        this.world = new InProcessCommunicator[size];
        for (int r = 0; r < size; r++) {
            world[r] = register(new InProcessCommunicator(this, shared, r));
        }
    }

    /** Runs {@code body} on a new world of {@code size} ranks with default options; see {@link #run(RankBody)}. */
    public static <R> List<R> run(int size, RankBody<R> body) {
        return run(size, CommOptions.DEFAULT, body);
    }

    /** Runs {@code body} on a new world of {@code size} ranks, then closes it; see {@link #run(RankBody)}. */
    public static <R> List<R> run(int size, CommOptions options, RankBody<R> body) {
        try (InProcessWorld w = new InProcessWorld(size, options)) {
            return w.run(body);
        }
    }

    /** The number of ranks. */
    public int size() {
        return size;
    }

    /** The options every communicator of this world uses. */
    public CommOptions options() {
        return options;
    }

    /** Rank {@code rank}'s communicator over the whole world (for running ranks on threads of one's own). */
    public Communicator communicator(int rank) {
        if (rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " is outside [0, " + size + ")");
        }
        return world[rank];
    }

    /**
     * Runs {@code body} for every rank, each on its own thread, and returns their results indexed by rank.
     *
     * @throws RuntimeException the first failure of any rank, as thrown (a checked exception wrapped, naming the
     *                          rank); the other ranks' failures, typically {@link CollectiveAbortedException}s, are
     *                          attached as suppressed
     */
    public <R> List<R> run(RankBody<R> body) {
        Objects.requireNonNull(body, "body must not be null");
        return RankThreads.run(size, "gatun-rank-", rank -> body.run(world[rank]), this::stop);
    }

    /**
     * Aborts every communicator of the world: every rank waiting in a call, or making one later, fails with a
     * {@link CollectiveAbortedException} that says {@code reason} and has {@code cause}.
     */
    public void abort(String reason, Throwable cause) {
        Failure f = Failure.aborted("world aborted: " + reason, cause);
        for (InProcessGroup g : groups) {
            g.fail(f);
        }
    }

    /** Closes every communicator of the world (after their outstanding asynchronous calls). */
    @Override
    public void close() {
        for (InProcessCommunicator c : handles) {
            c.close();
        }
    }

    InProcessGroup newGroup(String name, int groupSize, CommOptions groupOptions) {
        InProcessGroup g = new InProcessGroup(this, name, groupSize, groupOptions);
        groups.add(g);
        return g;
    }

    InProcessCommunicator register(InProcessCommunicator handle) {
        handles.add(handle);
        return handle;
    }

    /** Aborts the world and interrupts the rank threads other than the current one. */
    private void stop(String reason, Throwable cause, List<Thread> threads) {
        abort(reason, cause);
        for (Thread t : threads) {
            if (t != Thread.currentThread()) {
                t.interrupt();
            }
        }
    }

    @Override
    public String toString() {
        return "InProcessWorld[" + size + " ranks, timeout " + options.timeout() + "]";
    }
}
