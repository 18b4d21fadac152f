package dev.gatun.train;

import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.tp.Mappings;

import java.util.Objects;

/**
 * What every layer of one rank is built with: its backend (and stream), its allocator, the tensor-parallel mappings
 * over its tp group, the initialisation seed (parameters depend only on seed, name and global index), and which
 * layers recompute their activations in the backward, and whether the activations between the tensor-parallel regions
 * are split over the tp group along the tokens ({@link ParallelLayout#sequenceParallel}).
 */
public record LayerContext(Backend backend, TensorAllocator allocator, Mappings tp, long seed,
                           RecomputePlan recompute, boolean sequenceParallel) {
    public LayerContext {
        Objects.requireNonNull(backend, "backend must not be null");
        Objects.requireNonNull(allocator, "allocator must not be null");
        Objects.requireNonNull(tp, "tp mappings must not be null");
        Objects.requireNonNull(recompute, "recompute must not be null");
    }

    /** A context without sequence parallelism. */
    public LayerContext(Backend backend, TensorAllocator allocator, Mappings tp, long seed, RecomputePlan recompute) {
        this(backend, allocator, tp, seed, recompute, false);
    }

    /** A context whose layers keep every activation. */
    public LayerContext(Backend backend, TensorAllocator allocator, Mappings tp, long seed) {
        this(backend, allocator, tp, seed, RecomputePlan.NONE);
    }

    /** The tensor-parallel size. */
    public int tpSize() {
        return tp.group().size();
    }
}
