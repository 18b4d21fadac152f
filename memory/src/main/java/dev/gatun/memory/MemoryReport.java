package dev.gatun.memory;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * An immutable snapshot of an {@link Accountant}: current and peak bytes in use per {@link MemoryCategory} and in
 * total, and current and peak bytes reserved (held from the system or device, whether in use or cached).
 *
 * <p>{@link #toString()} prints a table with human-readable sizes, one row per category, then the total and the
 * reserved rows.
 *
 * @param categories usage for every category
 * @param total      usage summed over the categories; its peak is the peak of the sum, not the sum of the peaks
 * @param reserved   bytes held from the system or device
 */
public record MemoryReport(Map<MemoryCategory, Usage> categories, Usage total, Usage reserved) {

    /**
     * Current and peak bytes of one row of the report.
     *
     * @param currentBytes bytes at the time of the snapshot
     * @param peakBytes    the largest value {@code currentBytes} reached since the accountant was created or its
     *                     peaks were last reset
     */
    public record Usage(long currentBytes, long peakBytes) {
        public Usage {
            if (currentBytes < 0 || peakBytes < currentBytes) {
                throw new IllegalArgumentException(
                        "need 0 <= currentBytes <= peakBytes, got current=" + currentBytes + " peak=" + peakBytes);
            }
        }
    }

    public MemoryReport {
        Objects.requireNonNull(categories, "categories must not be null");
        Objects.requireNonNull(total, "total must not be null");
        Objects.requireNonNull(reserved, "reserved must not be null");
        EnumMap<MemoryCategory, Usage> copy = new EnumMap<>(MemoryCategory.class);
        copy.putAll(categories);
        for (MemoryCategory category : MemoryCategory.values()) {
            Objects.requireNonNull(copy.get(category), () -> "no usage given for category " + category);
        }
        categories = Collections.unmodifiableMap(copy);
    }

    /** Usage of one category. */
    public Usage usage(MemoryCategory category) {
        return categories.get(Objects.requireNonNull(category, "category must not be null"));
    }

    @Override
    public String toString() {
        StringBuilder table = new StringBuilder();
        row(table, "memory", "current", "peak");
        for (Map.Entry<MemoryCategory, Usage> entry : categories.entrySet()) {
            row(table, entry.getKey().label(), entry.getValue());
        }
        row(table, "total in use", total);
        row(table, "reserved", reserved);
        return table.toString();
    }

    private static void row(StringBuilder table, String label, Usage usage) {
        row(table, label, ByteSize.format(usage.currentBytes()), ByteSize.format(usage.peakBytes()));
    }

    private static void row(StringBuilder table, String label, String current, String peak) {
        table.append(String.format(Locale.ROOT, "%-16s %12s %12s%n", label, current, peak));
    }
}
