package dev.gatun.memory;

import java.util.List;
import java.util.Objects;

/**
 * An allocation that has not been freed yet, as kept by an {@link AllocationLedger}.
 *
 * @param id       the ledger's number for it, increasing in allocation order
 * @param owner    who asked for it, e.g. {@code "layer3.mlp.fc1.weight"}
 * @param category what it holds
 * @param bytes    its size
 * @param site     the innermost frames of the allocating thread's stack when the ledger records sites; otherwise
 *                 empty
 */
public record LiveAllocation(long id, String owner, MemoryCategory category, long bytes, List<StackTraceElement> site) {
    public LiveAllocation {
        Objects.requireNonNull(owner, "owner must not be null");
        Objects.requireNonNull(category, "category must not be null");
        if (bytes <= 0) {
            throw new IllegalArgumentException("bytes must be > 0, got " + bytes + " (owner '" + owner + "')");
        }
        site = List.copyOf(site);
    }
}
