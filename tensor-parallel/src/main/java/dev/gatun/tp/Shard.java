package dev.gatun.tp;

import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * One rank's contiguous share of a dimension split {@code parts} ways: elements {@code [offset, offset + size)}.
 *
 * @param offset first index owned
 * @param size   number of indices owned
 */
public record Shard(int offset, int size) {
    /**
     * Rank {@code rank}'s share of {@code total} split {@code parts} ways.
     *
     * @param what the dimension's name for the error message, e.g. {@code "out"}
     * @throws IllegalArgumentException when {@code parts} does not divide {@code total}, listing the sizes that do
     */
    public static Shard of(String what, int total, int parts, int rank) {
        requireDivides(what, total, parts);
        int size = total / parts;
        return new Shard(rank * size, size);
    }

    /** Throws, naming the sizes that would work, unless {@code tp} divides {@code total}. */
    public static void requireDivides(String what, int total, int tp) {
        if (tp < 1 || total % tp != 0) {
            String divisors = IntStream.rangeClosed(1, Math.max(1, total)).filter(d -> total % d == 0)
                    .mapToObj(Integer::toString).collect(Collectors.joining(", "));
            throw new IllegalArgumentException("tp=" + tp + " must divide " + what + "=" + total
                    + ": choose tp in {" + divisors + "}");
        }
    }

    /** Whether {@code index} is in this shard. */
    public boolean contains(long index) {
        return index >= offset && index < offset + size;
    }
}
