package dev.gatun.memory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A block of host memory from a {@link HostAllocator}, booked under a {@link MemoryCategory} for an owner.
 *
 * <p>{@link #close()} returns the memory at once (to the system, or to a caching allocator's cache) and un-books it; it
 * may be called from any thread, exactly once. After it, {@link #segment()} throws; with an arena per buffer (a plain
 * allocator, or a caching one in debugging mode) any access through a segment obtained earlier fails with the FFM
 * runtime's {@link IllegalStateException}, while a caching allocator's block keeps its segments usable until the
 * block is freed ({@link HostAllocator} says why and what they see).
 */
public final class HostBuffer implements Storage {
    private final HostAllocator allocator;
    private final long id;
    private final Arena arena;
    private final MemorySegment segment;
    private final MemoryCategory category;
    private final String owner;
    private final HostAllocator.Block block;
    private final AtomicBoolean freed = new AtomicBoolean();

    HostBuffer(HostAllocator allocator, long id, Arena arena, MemorySegment segment, MemoryCategory category,
               String owner, HostAllocator.Block block) {
        this.allocator = allocator;
        this.block = block;
        this.id = id;
        this.arena = arena;
        this.segment = segment;
        this.category = category;
        this.owner = owner;
    }

    /**
     * The memory, {@value HostAllocator#ALIGNMENT}-byte aligned.
     *
     * @throws IllegalStateException when the buffer has been freed
     */
    public MemorySegment segment() {
        if (freed.get()) {
            throw alreadyFreed();
        }
        return segment;
    }

    /** {@link Device#CPU}: pageable and pinned host memory alike. */
    @Override
    public Device device() {
        return Device.CPU;
    }

    /** Whether the memory is page-locked ({@code cudaMallocHost}), so that device copies from it run asynchronously. */
    public boolean isPinned() {
        return allocator.isPinned();
    }

    @Override
    public boolean isFreed() {
        return freed.get();
    }

    /** Size in bytes. */
    @Override
    public long byteSize() {
        return segment.byteSize();
    }

    /** What the buffer holds. */
    @Override
    public MemoryCategory category() {
        return category;
    }

    /** Who holds the buffer. */
    @Override
    public String owner() {
        return owner;
    }

    long id() {
        return id;
    }

    /** The C library's block behind the buffer, or null for pinned memory (which its arena frees). */
    HostAllocator.Block block() {
        return block;
    }

    /**
     * Frees the memory and un-books it.
     *
     * @throws IllegalStateException when the buffer was already freed, or, with an arena per buffer, from the FFM
     *                               runtime, when another thread is using the memory in a native call at this
     *                               moment (the buffer then stays live and may be closed again)
     */
    @Override
    public void close() {
        if (!freed.compareAndSet(false, true)) {
            throw alreadyFreed();
        }
        if (arena != null) {
            try {
                arena.close();
            } catch (RuntimeException inUse) {
                freed.set(false);
                throw inUse;
            }
        }
        allocator.freed(this);
    }

    @Override
    public String toString() {
        return "HostBuffer[owner=" + owner + ", category=" + category.label() + ", bytes=" + byteSize()
                + (freed.get() ? ", freed" : "") + "]";
    }

    private IllegalStateException alreadyFreed() {
        return new IllegalStateException("buffer already freed: " + owner);
    }
}
