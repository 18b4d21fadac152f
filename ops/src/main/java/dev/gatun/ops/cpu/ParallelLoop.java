package dev.gatun.ops.cpu;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs the units of a phase on up to {@link #slots()} tasks at once: the calling thread and tasks forked into a
 * {@link ForkJoinPool}. Each task takes units from a shared counter until none is left, so a busy core simply takes
 * fewer; the slot number a unit runs under names the task, so the unit may use that slot's buffers without locking.
 *
 * <p>The caller waits for the units, never for the tasks: a task the pool starts late finds the counter spent and
 * returns at once. So the result does not depend on when, or whether, the pool gets to the tasks.
 */
final class ParallelLoop {
    /** The work of one unit. */
    @FunctionalInterface
    interface Body {
        void run(int slot, int unit);
    }

    private final ForkJoinPool pool;
    private final int slots;
    private final int firstSlot;

    private ParallelLoop(ForkJoinPool pool, int slots, int firstSlot) {
        this.pool = pool;
        this.slots = slots;
        this.firstSlot = firstSlot;
    }

    /**
     * A loop over {@code pool} for the calling thread: the pool's parallelism, plus the caller when it is not one of
     * the pool's workers, at most one slot per available processor.
     */
    static ParallelLoop forCaller(ForkJoinPool pool) {
        boolean callerInPool = ForkJoinTask.getPool() == pool;
        int slots = Math.min(Runtime.getRuntime().availableProcessors(),
                pool.getParallelism() + (callerInPool ? 0 : 1));
        return new ParallelLoop(pool, Math.max(1, slots), 0);
    }

    /** A loop that runs every unit on the calling thread under slot {@code slot}. */
    static ParallelLoop sequential(int slot) {
        return new ParallelLoop(null, 1, slot);
    }

    /** How many units may run at once, under slots {@code [firstSlot(), firstSlot() + slots())}. */
    int slots() {
        return slots;
    }

    /** The slot of the calling thread. */
    int firstSlot() {
        return firstSlot;
    }

    /** Runs {@code body} for units {@code [0, units)} and returns when all are done; rethrows the first failure. */
    void run(int units, Body body) {
        int tasks = Math.min(slots, units);
        if (tasks <= 1) {
            for (int unit = 0; unit < units; unit++) {
                body.run(firstSlot, unit);
            }
            return;
        }
        Phase phase = new Phase(units, body);
        boolean callerInPool = ForkJoinTask.getPool() == pool;
        for (int t = 1; t < tasks; t++) {
            int slot = firstSlot + t;
            ForkJoinTask<?> task = ForkJoinTask.adapt(() -> phase.drain(slot));
            if (callerInPool) {
                task.fork();
            } else {
                pool.execute(task);
            }
        }
        phase.drain(firstSlot);
        phase.await();
    }

    private static final class Phase {
        private final int units;
        private final Body body;
        private final AtomicInteger next = new AtomicInteger();
        private final CountDownLatch done;
        private volatile Throwable failure;

        Phase(int units, Body body) {
            this.units = units;
            this.body = body;
            this.done = new CountDownLatch(units);
        }

        void drain(int slot) {
            for (int unit = next.getAndIncrement(); unit < units; unit = next.getAndIncrement()) {
                try {
                    if (failure == null) {
                        body.run(slot, unit);
                    }
                } catch (Throwable t) {
                    synchronized (this) {
                        if (failure == null) {
                            failure = t;
                        }
                    }
                } finally {
                    done.countDown();
                }
            }
        }

        /** Waits, uninterruptibly, for every unit, then rethrows the first failure. */
        void await() {
            boolean interrupted = false;
            while (true) {
                try {
                    done.await();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            Throwable t = failure;
            if (t instanceof RuntimeException e) {
                throw e;
            }
            if (t instanceof Error e) {
                throw e;
            }
            if (t != null) {
                throw new IllegalStateException("a parallel task failed", t);
            }
        }
    }
}
