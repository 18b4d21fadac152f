package dev.gatun.train;

import java.util.Objects;

/**
 * A global batch as the engine takes it: the first pipeline stage's inputs and the loss's targets, with as many
 * examples (first dimension) as each other. Each data-parallel rank takes the contiguous share
 * {@link #shard(int, int)}, and splits it into micro-batches the same way ({@link #part(int, int)}), so that the
 * shards of all ranks, concatenated, are the batch and the result does not depend on the layout.
 *
 * @param inputs  what stage 0 takes, e.g. token ids {@code [B, T]} or features {@code [B, F]}
 * @param targets what the loss compares the last stage's output with, e.g. next tokens {@code [B, T]} or labels
 *                {@code [B]}
 */
public record Batch(HostArray inputs, HostArray targets) {
    public Batch {
        Objects.requireNonNull(inputs, "inputs must not be null");
        Objects.requireNonNull(targets, "targets must not be null");
        if (inputs.examples() != targets.examples()) {
            throw new IllegalArgumentException("inputs " + inputs + " and targets " + targets + " must have as many "
                    + "examples (first dimension)");
        }
    }

    /** The examples of the batch. */
    public long examples() {
        return inputs.examples();
    }

    /**
     * Part {@code index} of {@code count} equal parts: examples {@code [index·B/count, (index+1)·B/count)}.
     *
     * @throws IllegalArgumentException when {@code count} does not divide the examples
     */
    public Batch part(int index, int count) {
        if (count < 1 || index < 0 || index >= count || examples() % count != 0) {
            throw new IllegalArgumentException("part " + index + " of " + count + " of a batch of " + examples()
                    + " examples: the parts must be equal");
        }
        long per = examples() / count;
        return new Batch(inputs.rows(index * per, (index + 1) * per), targets.rows(index * per, (index + 1) * per));
    }

    /** Data-parallel rank {@code rank}'s share of {@code ranks}: {@link #part(int, int)}. */
    public Batch shard(int rank, int ranks) {
        return part(rank, ranks);
    }
}
