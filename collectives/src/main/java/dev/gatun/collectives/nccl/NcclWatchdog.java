package dev.gatun.collectives.nccl;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.Nccl;
import dev.gatun.collectives.CollectiveException;
import dev.gatun.collectives.OpSignature;
import dev.gatun.collectives.Work;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.DeviceEvent;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * The watchdog of one {@link NcclCommunicator}: a daemon thread that retires calls whose completion events have
 * fired, and aborts the communicator when a call outlives the timeout or NCCL reports an asynchronous error. The
 * first failure is kept and thrown by every later call and wait.
 */
final class NcclWatchdog {
    private static final long POLL_NANOS = 2_000_000;

    private final NcclCommunicator owner;
    private final int device;
    private final long timeoutNanos;
    private final List<NcclCommunicator.Pending> pending = new ArrayList<>();
    private final Thread thread;
    private volatile CollectiveException failure;
    private volatile boolean running = true;

    NcclWatchdog(NcclCommunicator owner, int device, Duration timeout) {
        this.owner = owner;
        this.device = device;
        this.timeoutNanos = timeout.toNanos();
        this.thread = Thread.ofPlatform().daemon().name("nccl-watchdog-" + owner.name() + "-r" + owner.rank())
                .start(this::run);
    }

    void watch(long seq, OpSignature call, DeviceEvent done) {
        synchronized (pending) {
            pending.add(new NcclCommunicator.Pending(seq, call, done, System.nanoTime() + timeoutNanos));
        }
    }

    CollectiveException failure() {
        return failure;
    }

    /**
     * A handle on call {@code seq}: {@link Work#waitOnStream()} orders {@code waiter} after the call; {@link
     * Work#await()} also blocks the host until it is done.
     */
    Work workFor(long seq, CudaStream waiter) {
        return new Work() {
            private boolean ordered;

            @Override
            public void waitOnStream() {
                if (!ordered) {
                    orderAfter(seq, waiter);
                    ordered = true;
                }
                if (failure != null) {
                    throw failure;
                }
            }

            @Override
            public void await() {
                waitOnStream();
                while (isOutstanding(seq) && failure == null) {
                    LockSupport.parkNanos(POLL_NANOS);
                }
                if (failure != null) {
                    throw failure;
                }
            }

            @Override
            public boolean isDone() {
                return failure != null || !isOutstanding(seq);
            }
        };
    }

    /** Waits until no call is outstanding; false when a call failed (the watchdog's deadlines bound the wait). */
    boolean drain() {
        while (failure == null) {
            synchronized (pending) {
                if (pending.isEmpty()) {
                    return true;
                }
            }
            LockSupport.parkNanos(POLL_NANOS);
        }
        return false;
    }

    void stop() {
        running = false;
        thread.interrupt();
        try {
            thread.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (pending) {
            pending.forEach(p -> p.done().close());
            pending.clear();
        }
    }

    /**
     * Makes {@code waiter} wait for call {@code seq}'s event, if the call is still pending. Under the lock the polling
     * thread takes before it destroys a completed call's event, so the event cannot be destroyed in between; a call
     * no longer pending is complete and needs no wait.
     */
    private void orderAfter(long seq, CudaStream waiter) {
        synchronized (pending) {
            pending.stream().filter(p -> p.seq() == seq).map(NcclCommunicator.Pending::done).findFirst()
                    .ifPresent(waiter::waitFor);
        }
    }

    private boolean isOutstanding(long seq) {
        synchronized (pending) {
            return pending.stream().anyMatch(p -> p.seq() == seq);
        }
    }

    private void run() {
        Cuda.setDevice(device);
        while (running && failure == null) {
            LockSupport.parkNanos(POLL_NANOS);
            NcclCommunicator.Pending overdue = null;
            NcclCommunicator.Pending oldest = null;
            synchronized (pending) {
                long now = System.nanoTime();
                for (Iterator<NcclCommunicator.Pending> it = pending.iterator(); it.hasNext(); ) {
                    NcclCommunicator.Pending p = it.next();
                    if (p.done().isComplete()) {
                        owner.log().finished(p.seq(), true);
                        p.done().close();
                        it.remove();
                    } else if (now - p.deadlineNanos() > 0 && overdue == null) {
                        overdue = p;
                    }
                }
                if (!pending.isEmpty()) {
                    oldest = pending.getFirst();
                }
            }
            if (overdue != null) {
                fail(owner.timeout(overdue.seq(), overdue.call()));
            } else if (oldest != null) {
                int result = Nccl.commAsyncError(owner.handle());
                if (Nccl.isAsyncFailure(result)) {
                    fail(owner.asyncError(oldest.seq(), oldest.call(), result));
                }
            }
        }
    }

    private void fail(CollectiveException e) {
        synchronized (pending) {
            pending.forEach(p -> owner.log().finished(p.seq(), false));
        }
        failure = e;
        Nccl.commAbort(owner.handle());
    }

    /** Whether the watchdog aborted the communicator. */
    boolean aborted() {
        return failure != null;
    }
}
