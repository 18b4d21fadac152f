package dev.gatun.collectives;

import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * Calls and bytes per {@link OpType} issued by one rank on one communicator: an immutable snapshot. Bytes are each
 * call's size S ({@link OpSignature#bytes()}): an all-reduce of n fp32 elements counts 4n; a reduce-scatter counts
 * its whole input and an all-gather its whole output (N × the shard), as nccl-tests does. The bytes a rank actually
 * moves follow from S: all-reduce 2(N−1)/N·S, reduce-scatter and all-gather (N−1)/N·S, broadcast and reduce S.
 */
public final class CommStats {
    private static final OpType[] TYPES = OpType.values();

    private final long[] calls;
    private final long[] bytes;

    CommStats(long[] calls, long[] bytes) {
        this.calls = calls.clone();
        this.bytes = bytes.clone();
    }

    /** No calls. */
    public static CommStats empty() {
        return new CommStats(new long[TYPES.length], new long[TYPES.length]);
    }

    /** The number of calls of {@code type}. */
    public long calls(OpType type) {
        return calls[Objects.requireNonNull(type, "type must not be null").ordinal()];
    }

    /** The bytes (sizes S) of the calls of {@code type}. */
    public long bytes(OpType type) {
        return bytes[Objects.requireNonNull(type, "type must not be null").ordinal()];
    }

    /** The number of calls of every type. */
    public long totalCalls() {
        return Arrays.stream(calls).sum();
    }

    /** The bytes of the calls of every type. */
    public long totalBytes() {
        return Arrays.stream(bytes).sum();
    }

    /** What was issued between {@code earlier} (a snapshot of the same communicator) and this snapshot. */
    public CommStats minus(CommStats earlier) {
        long[] c = calls.clone();
        long[] b = bytes.clone();
        for (int i = 0; i < TYPES.length; i++) {
            c[i] -= earlier.calls[i];
            b[i] -= earlier.bytes[i];
        }
        return new CommStats(c, b);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CommStats s && Arrays.equals(calls, s.calls) && Arrays.equals(bytes, s.bytes);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(calls) + Arrays.hashCode(bytes);
    }

    /** One line per operation that was called: {@code allReduce  12 calls  48.0 KiB}. */
    @Override
    public String toString() {
        StringBuilder s = new StringBuilder();
        for (OpType type : TYPES) {
            if (calls[type.ordinal()] != 0) {
                s.append(String.format(Locale.ROOT, "%-14s %8d calls %14d bytes%n", type.label(),
                        calls[type.ordinal()], bytes[type.ordinal()]));
            }
        }
        return s.isEmpty() ? "no calls" : s.toString().stripTrailing();
    }

    /** Counts one call; {@link CallLog} holds the mutable arrays. */
    static void count(long[] calls, long[] bytes, OpSignature call) {
        calls[call.type().ordinal()]++;
        bytes[call.type().ordinal()] += call.bytes();
    }
}
