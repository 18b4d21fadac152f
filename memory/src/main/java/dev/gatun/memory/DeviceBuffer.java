package dev.gatun.memory;

import java.lang.foreign.MemorySegment;

/**
 * A block of device memory from a {@link CachingDeviceAllocator}, owned by the code that allocated it. It belongs to
 * the stream it was allocated on; if other streams use it, name them with {@link #recordStream} so that the block
 * is not reused before their work is done. Closing returns it to the allocator's cache without synchronising.
 */
public final class DeviceBuffer implements Storage {
    private final CachingDeviceAllocator allocator;
    final CachingDeviceAllocator.Block block;
    private final long byteSize;
    private final String owner;
    private final MemoryCategory category;
    final long ledgerId;
    private boolean freed;

    DeviceBuffer(CachingDeviceAllocator allocator, CachingDeviceAllocator.Block block, long byteSize, String owner,
                 MemoryCategory category, long ledgerId) {
        this.allocator = allocator;
        this.block = block;
        this.byteSize = byteSize;
        this.owner = owner;
        this.category = category;
        this.ledgerId = ledgerId;
    }

    /** The device the memory is on. */
    @Override
    public Device device() {
        return allocator.device();
    }

    /** The bytes asked for (the block behind it may be rounded up). */
    @Override
    public long byteSize() {
        return byteSize;
    }

    /** Who owns the buffer, as named at allocation. */
    @Override
    public String owner() {
        return owner;
    }

    /** What the buffer holds. */
    @Override
    public MemoryCategory category() {
        return category;
    }

    /** The stream the buffer was allocated on. */
    public DeviceStream stream() {
        return block.stream;
    }

    /** The device address. */
    public long address() {
        checkLive();
        return block.address;
    }

    /** The device address as a zero-length segment, for backends that pass it to native calls; never dereference. */
    public MemorySegment pointer() {
        return MemorySegment.ofAddress(address());
    }

    /** Marks the buffer as used by work on {@code stream}: its reuse will wait for that work. */
    public void recordStream(DeviceStream stream) {
        checkLive();
        allocator.recordStream(this, stream);
    }

    /** Returns the memory to the allocator's cache. */
    @Override
    public void close() {
        allocator.free(this);
    }

    @Override
    public synchronized boolean isFreed() {
        return freed;
    }

    synchronized boolean markFreed() {
        if (freed) {
            return false;
        }
        freed = true;
        return true;
    }

    private synchronized void checkLive() {
        if (freed) {
            throw new IllegalStateException("buffer already freed: " + owner);
        }
    }

    @Override
    public String toString() {
        return "DeviceBuffer[" + owner + ", " + category.label() + ", " + ByteSize.format(byteSize) + " on "
                + device() + "]";
    }
}
