package dev.gatun.zero;

/** Rank r's contiguous range {@code [offset, offset + size)} of a flat buffer. */
public record Shard(long offset, long size) {
    public Shard {
        if (offset < 0 || size < 0) {
            throw new IllegalArgumentException("shard needs offset >= 0 and size >= 0, got " + offset + ", " + size);
        }
    }

    /** Rank {@code rank}'s equal share of {@code total} elements over {@code ranks} ranks; {@code ranks} must divide it. */
    public static Shard of(long total, int ranks, int rank) {
        if (ranks < 1 || rank < 0 || rank >= ranks) {
            throw new IllegalArgumentException("rank " + rank + " is outside [0, " + ranks + ")");
        }
        if (total % ranks != 0) {
            throw new IllegalArgumentException("ranks=" + ranks + " must divide total=" + total + ": pad the buffer");
        }
        long size = total / ranks;
        return new Shard(rank * size, size);
    }

    /** One past the last element. */
    public long end() {
        return offset + size;
    }
}
