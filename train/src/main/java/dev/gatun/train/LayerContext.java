package dev.gatun.train;

import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.tp.Mappings;

import java.util.Objects;

/**
 * What every layer of one rank is built with: its backend (and stream), its allocator, the tensor-parallel mappings
 * over its tp group, and the initialisation seed (parameters depend only on seed, name and global index).
 */
public record LayerContext(Backend backend, TensorAllocator allocator, Mappings tp, long seed) {
    public LayerContext {
        Objects.requireNonNull(backend, "backend must not be null");
        Objects.requireNonNull(allocator, "allocator must not be null");
        Objects.requireNonNull(tp, "tp mappings must not be null");
    }

    /** The tensor-parallel size. */
    public int tpSize() {
        return tp.group().size();
    }
}
