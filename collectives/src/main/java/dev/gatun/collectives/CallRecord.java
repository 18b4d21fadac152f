package dev.gatun.collectives;

import java.util.Locale;
import java.util.Objects;

/**
 * One call as {@link CallLog} recorded it. Times are {@link System#nanoTime()} values; 0 means "not yet".
 *
 * @param seq         the call's sequence number on its rank and communicator
 * @param call        what was called
 * @param state       how far it got
 * @param issuedNanos when the rank made the call
 * @param startNanos  when it began to run (after earlier asynchronous calls, or when its group was issued)
 * @param endNanos    when it completed or failed
 */
public record CallRecord(long seq, OpSignature call, State state, long issuedNanos, long startNanos, long endNanos) {
    /** How far a call got. */
    public enum State { QUEUED, RUNNING, DONE, FAILED }

    public CallRecord {
        Objects.requireNonNull(call, "call must not be null");
        Objects.requireNonNull(state, "state must not be null");
    }

    /** Nanoseconds from start to end, or to now while the call runs; 0 while queued. */
    public long durationNanos() {
        if (startNanos == 0) {
            return 0;
        }
        return (endNanos != 0 ? endNanos : System.nanoTime()) - startNanos;
    }

    /** Printed as {@code #12 allReduce(fp32 × 1009, sum) done in 35.2 µs}. */
    @Override
    public String toString() {
        String when = switch (state) {
            case QUEUED -> "queued";
            case RUNNING -> "running for " + formatNanos(durationNanos());
            case DONE -> "done in " + formatNanos(durationNanos());
            case FAILED -> "failed after " + formatNanos(durationNanos());
        };
        return "#" + seq + " " + call + " " + when;
    }

    /** {@code 950 ns}, {@code 35.2 µs}, {@code 1.20 ms}, {@code 2.00 s}. */
    static String formatNanos(long nanos) {
        if (nanos < 1_000) {
            return nanos + " ns";
        }
        if (nanos < 1_000_000) {
            return String.format(Locale.ROOT, "%.1f µs", nanos / 1e3);
        }
        if (nanos < 1_000_000_000) {
            return String.format(Locale.ROOT, "%.2f ms", nanos / 1e6);
        }
        return String.format(Locale.ROOT, "%.2f s", nanos / 1e9);
    }
}
