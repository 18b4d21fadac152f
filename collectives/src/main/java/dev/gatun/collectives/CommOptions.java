package dev.gatun.collectives;

import java.time.Duration;
import java.util.Objects;

/**
 * Settings of a communicator.
 *
 * @param timeout     the longest any wait of a call may take before the call fails on every waiting rank
 * @param logCapacity how many recent calls each rank's {@link CallLog} keeps
 */
public record CommOptions(Duration timeout, int logCapacity) {
    /** Five minutes (generous: a slow first step, or a long compute between calls, is not a hang) and 256 calls. */
    public static final CommOptions DEFAULT = new CommOptions(Duration.ofMinutes(5), CallLog.DEFAULT_CAPACITY);

    public CommOptions {
        Objects.requireNonNull(timeout, "timeout must not be null");
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        if (logCapacity < 1) {
            throw new IllegalArgumentException("logCapacity must be >= 1, got " + logCapacity);
        }
    }

    /** These options with another timeout. */
    public CommOptions withTimeout(Duration timeout) {
        return new CommOptions(timeout, logCapacity);
    }
}
