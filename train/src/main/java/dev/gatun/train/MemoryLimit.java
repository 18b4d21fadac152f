package dev.gatun.train;

import java.util.Objects;

/**
 * What memory a placement's ranks can take, found before the run starts.
 *
 * @param bytes  the bytes available
 * @param shared true when all of this process's ranks draw on these bytes together (threads on the CPU), false when
 *               each rank has them to itself (one GPU per rank: the least free memory of the GPUs used)
 * @param source where the figure comes from, in words (e.g. "free memory of cuda:1")
 */
public record MemoryLimit(long bytes, boolean shared, String source) {
    public MemoryLimit {
        Objects.requireNonNull(source, "source must not be null");
        if (bytes < 0) {
            throw new IllegalArgumentException("bytes must be >= 0, got " + bytes);
        }
    }
}
