package dev.gatun.collectives;

import java.util.Locale;

/**
 * How a reduction combines the ranks' inputs, element by element: NCCL's {@code ncclSum}, {@code ncclAvg},
 * {@code ncclMax}, {@code ncclMin}. With inputs {@code x_0 … x_(N−1)} of the {@code N} ranks:
 */
public enum ReduceOp {
    /** {@code x_0 + x_1 + … + x_(N−1)}; integers wrap around as two's complement. */
    SUM,
    /** {@code (x_0 + … + x_(N−1)) / N}; for integer types the quotient is truncated toward zero. */
    AVG,
    /** {@code max(x_0, …, x_(N−1))}; a NaN input gives NaN. */
    MAX,
    /** {@code min(x_0, …, x_(N−1))}; a NaN input gives NaN. */
    MIN;

    /** The lower-case name used in call records, e.g. {@code "sum"}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
