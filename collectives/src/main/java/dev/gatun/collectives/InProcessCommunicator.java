package dev.gatun.collectives;

import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.Tensor;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.IntStream;

/**
 * One rank's handle on an in-process communicator (the {@link InProcessGroup} its ranks share), for host tensors.
 * {@link #execute} runs the call on the rank's own thread, after the rank's earlier asynchronous calls on this
 * communicator; {@link #submit} hands it to this rank's communication thread for this communicator (started on first
 * use), which runs the rank's asynchronous calls one after another, in call order. Each communicator has its own
 * such thread, so asynchronous calls on different communicators (a tp and a dp group, say) never wait for each other.
 *
 * <p>Sequence numbers are given when a call is made; collective indices (the slot of the {@link InProcessGroup} where
 * a call meets the other ranks) when it is issued, which for a group is when the group ends.
 */
final class InProcessCommunicator implements Communicator {
    /** A call issued on this rank; {@code collective} is its collective index, −1 until dispatched and for p2p. */
    private record Entry(long seq, CommOp op, long collective) {
    }

    /** Calls that run together (one call, or a group), and the works that complete when they have. */
    private record Batch(List<Entry> entries, List<CompletableFuture<Void>> works) {
    }

    /** The calls held by an open group, and the works handed out for them. */
    private static final class PendingGroup {
        final List<Entry> entries = new ArrayList<>();
        final List<CompletableFuture<Void>> works = new ArrayList<>();
    }

    private record SplitRequest(int color, int key, String name) {
    }

    private final InProcessWorld world;
    private final InProcessGroup shared;
    private final int rank;
    private final CallLog log;
    private final DeviceStream stream = DeviceStream.cpu();
    private long collectives;
    private PendingGroup group;
    private volatile ExecutorService thread;
    private volatile CompletableFuture<Void> tail = CompletableFuture.completedFuture(null);
    private volatile boolean closed;

    InProcessCommunicator(InProcessWorld world, InProcessGroup shared, int rank) {
        this.world = world;
        this.shared = shared;
        this.rank = rank;
        this.log = shared.log(rank);
    }

    @Override
    public String name() {
        return shared.name;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return shared.size;
    }

    @Override
    public DeviceStream stream() {
        return stream;
    }

    @Override
    public void execute(CommOp op) {
        Entry entry = issue(op);
        if (group != null) {
            group.entries.add(entry);
            return;
        }
        drain();
        run(new Batch(dispatch(List.of(entry)), List.of()));
    }

    @Override
    public Work submit(CommOp op) {
        Entry entry = issue(op);
        CompletableFuture<Void> work = new CompletableFuture<>();
        if (group != null) {
            group.entries.add(entry);
            group.works.add(work);
        } else {
            enqueue(new Batch(dispatch(List.of(entry)), List.of(work)));
        }
        return new FutureWork(work);
    }

    @Override
    public void group(Runnable calls) {
        PendingGroup g = collect(calls);
        if (g != null) {
            drain();
            run(new Batch(dispatch(g.entries), g.works));
        }
    }

    @Override
    public Work groupAsync(Runnable calls) {
        CompletableFuture<Void> work = new CompletableFuture<>();
        if (group != null) {
            group.works.add(work);
        }
        PendingGroup g = collect(calls);
        if (g != null) {
            g.works.add(work);
            enqueue(new Batch(dispatch(g.entries), g.works));
        }
        return new FutureWork(work);
    }

    @Override
    public Communicator split(int color, int key, String name) {
        requireOpen();
        if (group != null) {
            throw new IllegalStateException("split on '" + name() + "' inside a group: call split outside groups");
        }
        if (color < 0) {
            throw new IllegalArgumentException("split on rank " + rank + " of '" + name()
                    + "': color must be >= 0, got " + color);
        }
        Objects.requireNonNull(name, "split: name must not be null");
        OpSignature signature = OpSignature.withoutData(OpType.SPLIT);
        long seq = log.issue(signature);
        drain();
        long index = collectives++;
        log.started(seq);
        boolean ok = false;
        try {
            InProcessGroup.Arrival mine =
                    new InProcessGroup.Arrival(rank, seq, signature, new SplitRequest(color, key, name));
            InProcessGroup.Arrival[] all = shared.arrive(index, mine);
            List<Integer> members = IntStream.range(0, size()).boxed()
                    .filter(q -> request(all[q]).color() == color)
                    .sorted(Comparator.<Integer>comparingInt(q -> request(all[q]).key()).thenComparingInt(q -> q))
                    .toList();
            InProcessGroup child = shared.child(index, color, name, members.size());
            shared.depart(index, mine);
            Communicator handle = world.register(new InProcessCommunicator(world, child, members.indexOf(rank)));
            ok = true;
            return handle;
        } finally {
            log.finished(seq, ok);
        }
    }

    @Override
    public List<CallRecord> recentCalls() {
        return log.recent();
    }

    @Override
    public CommStats stats() {
        return log.stats();
    }

    /** Waits for the outstanding asynchronous calls (each bounded by the timeout), then stops this rank's thread. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        ExecutorService t = thread;
        if (t != null) {
            drain();
            t.shutdown();
        }
    }

    @Override
    public String toString() {
        return "InProcessCommunicator['" + name() + "' rank " + rank + " of " + size() + "]";
    }

    /** Checks {@code op} for this rank and backend, gives it its sequence number and records it. */
    private Entry issue(CommOp op) {
        Objects.requireNonNull(op, "op must not be null");
        requireOpen();
        op.check(rank, size());
        String call = op.signature().type().label() + " on rank " + rank + " of '" + name() + "'";
        for (Tensor t : op.tensors()) {
            if (t.device().isCuda()) {
                throw new IllegalArgumentException(call + ": tensor '" + t.name() + "' is on " + t.device()
                        + ", but the in-process communicator works on host memory: copy it to a CPU tensor, or use "
                        + "the NCCL communicator");
            }
            if (!t.isLive()) {
                throw new IllegalArgumentException(call + ": tensor '" + t.name() + "' was freed (buffer already "
                        + "freed)");
            }
        }
        return new Entry(log.issue(op.signature()), op, -1);
    }

    /** Gives the collectives among {@code entries} their indices, in call order, as they are issued. */
    private List<Entry> dispatch(List<Entry> entries) {
        List<Entry> out = new ArrayList<>(entries.size());
        for (Entry e : entries) {
            out.add(e.op().signature().type().isPointToPoint() ? e : new Entry(e.seq(), e.op(), collectives++));
        }
        return out;
    }

    /** Runs {@code calls} as a group and returns the calls it held, or {@code null} when nested in another group. */
    private PendingGroup collect(Runnable calls) {
        Objects.requireNonNull(calls, "calls must not be null");
        requireOpen();
        if (group != null) {
            calls.run();
            return null;
        }
        PendingGroup g = new PendingGroup();
        group = g;
        boolean ok = false;
        try {
            calls.run();
            ok = true;
        } finally {
            group = null;
            if (!ok) {
                for (Entry e : g.entries) {
                    log.finished(e.seq(), false);
                }
                g.works.forEach(w -> w.completeExceptionally(new IllegalStateException(
                        "the group on '" + name() + "' threw before it was issued; its calls were dropped")));
            }
        }
        return g;
    }

    /**
     * Runs a batch on the current thread: first posts its sends, then runs its recvs and collectives in call order,
     * then waits for the sends to be received. Every rank posts before it waits, so the sends and recvs of one group
     * cannot deadlock whatever their order. Completes the batch's works either way.
     */
    private void run(Batch batch) {
        Throwable failure = null;
        List<Entry> sends = new ArrayList<>();
        List<InProcessGroup.Message> posted = new ArrayList<>();
        try {
            for (Entry e : batch.entries()) {
                if (e.op() instanceof CommOp.Send send) {
                    log.started(e.seq());
                    posted.add(shared.post(send.peer(), arrival(e), send.tensor().hostSegment()));
                    sends.add(e);
                }
            }
            for (Entry e : batch.entries()) {
                if (!(e.op() instanceof CommOp.Send)) {
                    runOne(e);
                }
            }
            for (int i = 0; i < posted.size(); i++) {
                shared.awaitConsumed(posted.get(i));
                log.finished(sends.get(i).seq(), true);
            }
        } catch (RuntimeException | Error e) {
            failure = e;
            for (Entry entry : batch.entries()) {
                log.finished(entry.seq(), false);
            }
            throw e;
        } finally {
            for (CompletableFuture<Void> work : batch.works()) {
                complete(work, failure);
            }
        }
    }

    private void runOne(Entry e) {
        log.started(e.seq());
        InProcessGroup.Arrival mine = arrival(e);
        if (e.op() instanceof CommOp.Recv recv) {
            shared.receive(recv.peer(), mine, recv.tensor().hostSegment());
        } else {
            InProcessGroup.Arrival[] all = shared.arrive(e.collective(), mine);
            try {
                Transfers.perform(rank, all);
            } catch (RuntimeException | Error x) {
                shared.fail(Failure.aborted("rank " + rank + " of '" + name() + "' failed in collective #"
                        + e.collective() + " " + e.op().signature() + " (its call #" + e.seq() + "): " + x, x));
                throw x;
            }
            shared.depart(e.collective(), mine);
        }
        log.finished(e.seq(), true);
    }

    private InProcessGroup.Arrival arrival(Entry e) {
        return new InProcessGroup.Arrival(rank, e.seq(), e.op().signature(), e.op());
    }

    private static SplitRequest request(InProcessGroup.Arrival a) {
        return (SplitRequest) a.payload();
    }

    private void enqueue(Batch batch) {
        ExecutorService t = thread;
        if (t == null) {
            t = Executors.newSingleThreadExecutor(r -> {
                Thread th = new Thread(r, "gatun-comm-" + name() + "-rank" + rank);
                th.setDaemon(true);
                return th;
            });
            thread = t;
        }
        tail = CompletableFuture.runAsync(() -> run(batch), t);
    }

    /** Waits until this rank's asynchronous calls so far are done (their failures are their works' to report). */
    private void drain() {
        try {
            tail.join();
        } catch (CompletionException ignored) {
            // The failed call's work reports it; a later call finds the communicator failed and says so.
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("communicator '" + name() + "' (rank " + rank + ") is closed");
        }
    }

    private static void complete(CompletableFuture<Void> work, Throwable failure) {
        if (failure == null) {
            work.complete(null);
        } else {
            work.completeExceptionally(failure);
        }
    }

    /** A {@link Work} over a future that completes with the call's own exception. */
    private record FutureWork(CompletableFuture<Void> future) implements Work {
        @Override
        public void await() {
            try {
                future.join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                if (e.getCause() instanceof Error err) {
                    throw err;
                }
                throw e;
            }
        }

        @Override
        public boolean isDone() {
            return future.isDone();
        }
    }
}
