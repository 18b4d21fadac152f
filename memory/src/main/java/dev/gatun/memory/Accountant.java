package dev.gatun.memory;

import java.util.EnumMap;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Books memory, apart from allocating it: bytes in use per {@link MemoryCategory} and in total, and bytes
 * reserved, each with its peak.
 *
 * <p>"In use" is memory handed out to owners; "reserved" is memory held from the system or the device, which for a
 * caching allocator includes cached blocks that are in no one's use. An allocator books in-use bytes with
 * {@link #allocate} / {@link #free} and held bytes with {@link #reserve} / {@link #release}.
 *
 * <p>An allocation either fully succeeds or changes nothing: {@code allocate} and {@code reserve} run the
 * allocation they are given first and book its bytes only once it has returned; if it throws, the counters are
 * untouched. All methods are thread-safe, and every peak is exact: counters and peaks change together under one
 * lock, so the total's peak is the peak of the sum.
 */
public final class Accountant {
    private static final MemoryCategory[] CATEGORIES = MemoryCategory.values();

    private final Object lock = new Object();
    private final long[] current = new long[CATEGORIES.length];
    private final long[] peak = new long[CATEGORIES.length];
    private long totalCurrent;
    private long totalPeak;
    private long reservedCurrent;
    private long reservedPeak;

    /**
     * Runs {@code allocation} and, once it has returned, books {@code bytes} as in use under {@code category}.
     *
     * @return what {@code allocation} returned
     * @throws IllegalArgumentException when {@code bytes} is not positive (nothing is run)
     */
    public <T> T allocate(MemoryCategory category, long bytes, Supplier<? extends T> allocation) {
        Objects.requireNonNull(category, "category must not be null");
        checkPositive(bytes);
        Objects.requireNonNull(allocation, "allocation must not be null");
        T result = allocation.get();
        synchronized (lock) {
            int c = category.ordinal();
            current[c] += bytes;
            peak[c] = Math.max(peak[c], current[c]);
            totalCurrent += bytes;
            totalPeak = Math.max(totalPeak, totalCurrent);
        }
        return result;
    }

    /**
     * Un-books {@code bytes} in use under {@code category}.
     *
     * @throws IllegalStateException when fewer bytes are booked under {@code category} (nothing changes)
     */
    public void free(MemoryCategory category, long bytes) {
        Objects.requireNonNull(category, "category must not be null");
        checkPositive(bytes);
        synchronized (lock) {
            int c = category.ordinal();
            if (bytes > current[c]) {
                throw new IllegalStateException("cannot free " + bytes + " bytes of " + category.label()
                        + ": only " + current[c] + " are booked");
            }
            current[c] -= bytes;
            totalCurrent -= bytes;
        }
    }

    /**
     * Runs {@code acquisition} and, once it has returned, books {@code bytes} as reserved.
     *
     * @return what {@code acquisition} returned
     * @throws IllegalArgumentException when {@code bytes} is not positive (nothing is run)
     */
    public <T> T reserve(long bytes, Supplier<? extends T> acquisition) {
        checkPositive(bytes);
        Objects.requireNonNull(acquisition, "acquisition must not be null");
        T result = acquisition.get();
        synchronized (lock) {
            reservedCurrent += bytes;
            reservedPeak = Math.max(reservedPeak, reservedCurrent);
        }
        return result;
    }

    /**
     * Un-books {@code bytes} of reserved memory.
     *
     * @throws IllegalStateException when fewer bytes are reserved (nothing changes)
     */
    public void release(long bytes) {
        checkPositive(bytes);
        synchronized (lock) {
            if (bytes > reservedCurrent) {
                throw new IllegalStateException(
                        "cannot release " + bytes + " reserved bytes: only " + reservedCurrent + " are reserved");
            }
            reservedCurrent -= bytes;
        }
    }

    /** Lowers every peak to its current value, to measure the peak of a phase (a step, a stage) on its own. */
    public void resetPeaks() {
        synchronized (lock) {
            System.arraycopy(current, 0, peak, 0, current.length);
            totalPeak = totalCurrent;
            reservedPeak = reservedCurrent;
        }
    }

    /** A consistent snapshot of all counters. */
    public MemoryReport report() {
        synchronized (lock) {
            EnumMap<MemoryCategory, MemoryReport.Usage> categories = new EnumMap<>(MemoryCategory.class);
            for (MemoryCategory category : CATEGORIES) {
                int c = category.ordinal();
                categories.put(category, new MemoryReport.Usage(current[c], peak[c]));
            }
            return new MemoryReport(categories, new MemoryReport.Usage(totalCurrent, totalPeak),
                    new MemoryReport.Usage(reservedCurrent, reservedPeak));
        }
    }

    private static void checkPositive(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("bytes must be > 0, got " + bytes);
        }
    }
}
