package dev.gatun.ops.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.function.IntConsumer;

/**
 * Runs the tasks of a {@link Split} on the calling thread and a ForkJoin pool together (a {@link ParallelLoop}: the
 * caller takes tasks too, so a pool of one worker on two cores still runs two at once), or on the calling thread
 * alone when there is one task. How items are split into tasks depends only on the sizes, never on the pool or on
 * timing, so a reduction that keeps one partial result per task and combines them in task order is deterministic.
 */
final class Parallel {
    /** Elements of work a task should have at least (about 64 KiB of fp32); fewer run on the calling thread. */
    static final long GRAIN = 1 << 14;

    private final ForkJoinPool pool;

    Parallel(ForkJoinPool pool) {
        this.pool = pool;
    }

    ForkJoinPool pool() {
        return pool;
    }

    /** {@code items} items of about {@code workPerItem} elements of work each, in tasks of {@code perTask} items. */
    record Split(long items, long perTask) {
        /** Tasks of at least {@link #GRAIN} elements of work (one item per task when an item is that big). */
        static Split of(long items, long workPerItem) {
            return new Split(items, Math.max(1, GRAIN / Math.max(1, workPerItem)));
        }

        /** Tasks of exactly {@code perTask} items (the last may have fewer). */
        static Split fixed(long items, long perTask) {
            return new Split(items, perTask);
        }

        int count() {
            return Math.toIntExact((items + perTask - 1) / perTask);
        }

        long start(int task) {
            return task * perTask;
        }

        long end(int task) {
            return Math.min(items, (task + 1) * perTask);
        }
    }

    /** Work on items {@code [start, end)}. */
    @FunctionalInterface
    interface Range {
        void run(long start, long end);
    }

    /** Runs {@code body} on every task's range of {@code split}. */
    void forEach(Split split, Range body) {
        forEachTask(split.count(), task -> body.run(split.start(task), split.end(task)));
    }

    /**
     * Runs {@code body(task)} for every task in {@code [0, count)} on the caller and the pool; returns when all are
     * done. The first failure reaches the caller (the remaining tasks are skipped).
     */
    void forEachTask(int count, IntConsumer body) {
        if (count <= 1) {
            for (int task = 0; task < count; task++) {
                body.accept(task);
            }
            return;
        }
        ParallelLoop.forCaller(pool).run(count, (slot, task) -> body.accept(task));
    }
}
