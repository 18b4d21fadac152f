package dev.gatun.collectives;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One thread per rank: runs a body on each, joins them all, and rethrows the first failure with the others attached as
 * suppressed. What the ranks' communicators need done when a rank fails (abort them, interrupt the other threads) is
 * the caller's {@link OnFailure}, called once, on the first failure or when the joining thread is interrupted.
 */
public final class RankThreads {
    /** What rank {@code rank} runs. */
    @FunctionalInterface
    public interface RankCall<R> {
        R call(int rank) throws Exception;
    }

    /** Stops the other ranks after a failure ({@code cause}, described by {@code reason}). */
    @FunctionalInterface
    public interface OnFailure {
        void stop(String reason, Throwable cause, List<Thread> threads);
    }

    private RankThreads() {
    }

    /**
     * Runs {@code call} for ranks {@code 0..n-1}, each on a thread named {@code namePrefix + rank}, and returns their
     * results indexed by rank.
     *
     * @throws RuntimeException the first failure, as thrown (a checked exception wrapped, naming the rank)
     */
    public static <R> List<R> run(int n, String namePrefix, RankCall<R> call, OnFailure onFailure) {
        Objects.requireNonNull(call, "call must not be null");
        Object[] results = new Object[n];
        Throwable[] failures = new Throwable[n];
        AtomicReference<Throwable> first = new AtomicReference<>();
        AtomicInteger firstRank = new AtomicInteger(-1);
        Thread[] threads = new Thread[n];
        List<Thread> all = Arrays.asList(threads);
        for (int r = 0; r < n; r++) {
            int rank = r;
            threads[r] = new Thread(() -> {
                try {
                    results[rank] = call.call(rank);
                } catch (Throwable t) {
                    failures[rank] = t;
                    if (first.compareAndSet(null, t)) {
                        firstRank.set(rank);
                        onFailure.stop("rank " + rank + " of " + n + " failed: " + t, t, all);
                    }
                }
            }, namePrefix + r);
        }
        for (Thread t : threads) {
            t.start();
        }
        joinAll(threads, onFailure);
        Throwable primary = first.get();
        if (primary != null) {
            for (Throwable t : failures) {
                if (t != null && t != primary) {
                    primary.addSuppressed(t);
                }
            }
            switch (primary) {
                case RuntimeException e -> throw e;
                case Error e -> throw e;
                default -> throw new IllegalStateException("rank " + firstRank.get() + " of " + n + " failed: "
                        + primary, primary);
            }
        }
        @SuppressWarnings("unchecked")
        List<R> out = (List<R>) Collections.unmodifiableList(Arrays.asList(results));
        return out;
    }

    /** Joins every rank; if the caller is interrupted meanwhile, stops the ranks first, so joining ends soon. */
    private static void joinAll(Thread[] threads, OnFailure onFailure) {
        boolean interrupted = false;
        for (Thread t : threads) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    if (!interrupted) {
                        interrupted = true;
                        onFailure.stop("the thread running the ranks was interrupted", e, Arrays.asList(threads));
                    }
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
