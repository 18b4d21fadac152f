package dev.gatun.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

class AccountantTest {
    private static final MemoryReport.Usage NONE = new MemoryReport.Usage(0, 0);

    @Test
    void booksCurrentAndPeakPerCategoryAndInTotal() {
        Accountant accountant = new Accountant();
        String block = accountant.allocate(MemoryCategory.PARAMETERS, 1000, () -> "block");
        assertEquals("block", block);
        accountant.allocate(MemoryCategory.GRADIENTS, 500, () -> null);
        accountant.free(MemoryCategory.PARAMETERS, 1000);
        accountant.allocate(MemoryCategory.PARAMETERS, 200, () -> null);

        MemoryReport report = accountant.report();
        assertEquals(new MemoryReport.Usage(200, 1000), report.usage(MemoryCategory.PARAMETERS));
        assertEquals(new MemoryReport.Usage(500, 500), report.usage(MemoryCategory.GRADIENTS));
        assertEquals(NONE, report.usage(MemoryCategory.ACTIVATIONS));
        assertEquals(new MemoryReport.Usage(700, 1500), report.total());
        assertEquals(NONE, report.reserved());
    }

    @Test
    void booksReservedApartFromInUse() {
        Accountant accountant = new Accountant();
        accountant.reserve(4096, () -> null);
        accountant.allocate(MemoryCategory.ACTIVATIONS, 1024, () -> null);
        accountant.free(MemoryCategory.ACTIVATIONS, 1024);
        accountant.release(1024);

        MemoryReport report = accountant.report();
        assertEquals(new MemoryReport.Usage(3072, 4096), report.reserved());
        assertEquals(new MemoryReport.Usage(0, 1024), report.total());
    }

    @Test
    void failedAllocationChangesNothing() {
        Accountant accountant = new Accountant();
        accountant.allocate(MemoryCategory.WORKSPACE, 64, () -> null);
        MemoryReport before = accountant.report();
        OutOfMemoryError oom = new OutOfMemoryError("device full");

        assertSame(oom, assertThrows(OutOfMemoryError.class,
                () -> accountant.allocate(MemoryCategory.WORKSPACE, 1 << 20, () -> {
                    throw oom;
                })));
        assertThrows(IllegalStateException.class, () -> accountant.reserve(1 << 20, () -> {
            throw new IllegalStateException("cudaMalloc failed");
        }));
        assertEquals(before, accountant.report());
    }

    @Test
    void rejectsBadArgumentsWithoutRunningTheAllocation() {
        Accountant accountant = new Accountant();
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class,
                () -> accountant.allocate(MemoryCategory.PARAMETERS, 0, () -> {
                    throw new AssertionError("must not run");
                }));
        assertEquals("bytes must be > 0, got 0", zero.getMessage());
        assertThrows(NullPointerException.class, () -> accountant.allocate(null, 8, () -> null));
        assertThrows(IllegalArgumentException.class, () -> accountant.reserve(-8, () -> null));
    }

    @Test
    void freeingMoreThanBookedThrowsAndChangesNothing() {
        Accountant accountant = new Accountant();
        accountant.allocate(MemoryCategory.GRADIENTS, 100, () -> null);
        accountant.reserve(100, () -> null);
        MemoryReport before = accountant.report();

        IllegalStateException free = assertThrows(IllegalStateException.class,
                () -> accountant.free(MemoryCategory.GRADIENTS, 101));
        assertEquals("cannot free 101 bytes of gradients: only 100 are booked", free.getMessage());
        assertThrows(IllegalStateException.class, () -> accountant.free(MemoryCategory.PARAMETERS, 1));
        IllegalStateException release = assertThrows(IllegalStateException.class, () -> accountant.release(200));
        assertEquals("cannot release 200 reserved bytes: only 100 are reserved", release.getMessage());
        assertEquals(before, accountant.report());
    }

    @Test
    void resetPeaksLowersThemToCurrent() {
        Accountant accountant = new Accountant();
        accountant.reserve(300, () -> null);
        accountant.allocate(MemoryCategory.OPTIMIZER_STATE, 300, () -> null);
        accountant.free(MemoryCategory.OPTIMIZER_STATE, 200);
        accountant.release(200);
        accountant.resetPeaks();

        MemoryReport report = accountant.report();
        assertEquals(new MemoryReport.Usage(100, 100), report.usage(MemoryCategory.OPTIMIZER_STATE));
        assertEquals(new MemoryReport.Usage(100, 100), report.total());
        assertEquals(new MemoryReport.Usage(100, 100), report.reserved());
    }

    /**
     * Four threads each hold one block per round and meet at a barrier while all four are held, so the exact peak
     * is known: the largest sum of one round's blocks. Between rounds they churn without a barrier.
     */
    @Test
    void peaksAreExactUnderConcurrentAllocateAndFree() throws Exception {
        int threads = 4;
        int rounds = 200;
        MemoryCategory[] categories = {MemoryCategory.PARAMETERS, MemoryCategory.GRADIENTS,
            MemoryCategory.ACTIVATIONS, MemoryCategory.GRADIENTS};
        long[][] sizes = new long[rounds][threads];
        SplittableRandom random = new SplittableRandom();
        long expectedTotalPeak = 0;
        long[] expectedPeak = new long[MemoryCategory.values().length];
        for (long[] round : sizes) {
            long[] perCategory = new long[MemoryCategory.values().length];
            long sum = 0;
            for (int t = 0; t < threads; t++) {
                round[t] = random.nextLong(1000, 1 << 20);
                sum += round[t];
                perCategory[categories[t].ordinal()] += round[t];
            }
            expectedTotalPeak = Math.max(expectedTotalPeak, sum);
            for (int c = 0; c < perCategory.length; c++) {
                expectedPeak[c] = Math.max(expectedPeak[c], perCategory[c]);
            }
        }

        Accountant accountant = new Accountant();
        CyclicBarrier allHeld = new CyclicBarrier(threads);
        CyclicBarrier allFreed = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                workers.add(pool.submit(() -> {
                    for (long[] round : sizes) {
                        long bytes = round[thread];
                        accountant.reserve(bytes, () -> accountant.allocate(categories[thread], bytes, () -> null));
                        allHeld.await();
                        accountant.free(categories[thread], bytes);
                        accountant.release(bytes);
                        // Churn that cannot raise the total's peak: a thread churns only after freeing its own block,
                        // which is at least as large.
                        for (int i = 0; i < 50; i++) {
                            accountant.allocate(MemoryCategory.WORKSPACE, 1000, () -> null);
                            accountant.free(MemoryCategory.WORKSPACE, 1000);
                        }
                        allFreed.await();
                    }
                    return null;
                }));
            }
            for (Future<?> worker : workers) {
                worker.get();
            }
        } finally {
            pool.shutdownNow();
        }

        MemoryReport report = accountant.report();
        assertEquals(new MemoryReport.Usage(0, expectedTotalPeak), report.total());
        assertEquals(new MemoryReport.Usage(0, expectedTotalPeak), report.reserved());
        for (MemoryCategory category : new MemoryCategory[] {MemoryCategory.PARAMETERS, MemoryCategory.GRADIENTS,
            MemoryCategory.ACTIVATIONS}) {
            assertEquals(new MemoryReport.Usage(0, expectedPeak[category.ordinal()]), report.usage(category),
                    category.label());
        }
        long workspacePeak = report.usage(MemoryCategory.WORKSPACE).peakBytes();
        assertEquals(0, workspacePeak % 1000);
        assertTrue(workspacePeak >= 1000 && workspacePeak <= 4000, "workspace peak " + workspacePeak);
    }
}
