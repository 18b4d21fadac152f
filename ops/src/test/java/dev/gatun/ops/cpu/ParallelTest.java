package dev.gatun.ops.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/** How {@link Parallel} spreads an operation's tasks: over the caller and the pool, every task exactly once. */
class ParallelTest {
    /**
     * With a pool of one worker (what the common pool has on two cores) the caller takes tasks too: two tasks that
     * can only finish once both have started (a barrier of two) finish, on two different threads. Run on a single
     * thread they would wait for each other, and the barrier's timeout would fail the test.
     */
    @Test
    void aPoolOfOneWorkerAndTheCallerRunTasksAtOnce() throws Exception {
        assumeTrue(Runtime.getRuntime().availableProcessors() >= 2, "needs two cores to run two tasks at once");
        ForkJoinPool pool = new ForkJoinPool(1);
        try {
            Parallel parallel = new Parallel(pool);
            CyclicBarrier bothStarted = new CyclicBarrier(2);
            Thread[] ranOn = new Thread[2];
            parallel.forEachTask(2, task -> {
                ranOn[task] = Thread.currentThread();
                try {
                    bothStarted.await(60, TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new AssertionError("task " + task + " waited alone: the tasks did not run at once", e);
                }
            });
            assertNotEquals(ranOn[0], ranOn[1]);
        } finally {
            pool.shutdown();
        }
    }

    /** Every task of a split runs once, whichever thread takes it, with pools of 1 and 3 workers. */
    @Test
    void everyTaskRunsExactlyOnce() {
        for (int workers : new int[] {1, 3}) {
            ForkJoinPool pool = new ForkJoinPool(workers);
            try {
                Parallel parallel = new Parallel(pool);
                Parallel.Split split = Parallel.Split.fixed(10_007, 13);
                AtomicIntegerArray runs = new AtomicIntegerArray(10_007);
                parallel.forEach(split, (lo, hi) -> {
                    for (long i = lo; i < hi; i++) {
                        runs.incrementAndGet((int) i);
                    }
                });
                int[] expected = new int[10_007];
                Arrays.fill(expected, 1);
                int[] actual = new int[10_007];
                for (int i = 0; i < actual.length; i++) {
                    actual[i] = runs.get(i);
                }
                assertArrayEquals(expected, actual, "pool of " + workers);
            } finally {
                pool.shutdown();
            }
        }
    }

    /** A task's failure reaches the caller, after every task has been taken. */
    @Test
    void aFailingTaskFailsTheCall() {
        ForkJoinPool pool = new ForkJoinPool(2);
        try {
            Parallel parallel = new Parallel(pool);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> parallel.forEachTask(8, task -> {
                if (task == 5) {
                    throw new IllegalStateException("task 5 failed");
                }
            }));
            assertEquals("task 5 failed", e.getMessage());
        } finally {
            pool.shutdown();
        }
    }
}
