package dev.gatun.memory;

import java.util.Locale;

/** Byte counts written for people: {@code 512 B}, {@code 1.50 KiB}, {@code 12.00 MiB}, {@code 3.25 GiB}. */
public final class ByteSize {
    private static final String[] UNITS = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

    private ByteSize() {
    }

    /**
     * {@code bytes} in the largest binary unit (powers of 1024) that keeps the number at or above 1, with two
     * decimals; counts below 1024 are written exactly.
     *
     * @throws IllegalArgumentException when {@code bytes} is negative
     */
    public static String format(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("byte count must be >= 0, got " + bytes);
        }
        if (bytes < 1024) {
            return bytes + " B";
        }
        int unit = (Long.SIZE - 1 - Long.numberOfLeadingZeros(bytes)) / 10;
        double value = bytes / (double) (1L << (10 * unit));
        // Keep "1024.00 KiB" from appearing where two decimals round up to the next unit.
        if (value >= 1023.995 && unit < UNITS.length - 1) {
            unit++;
            value /= 1024;
        }
        return String.format(Locale.ROOT, "%.2f %s", value, UNITS[unit]);
    }
}
