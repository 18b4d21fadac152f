package dev.gatun.memory;

/**
 * Memory that a {@link Tensor} lives in: a {@link HostBuffer} (pageable or pinned host memory) or a
 * {@link DeviceBuffer} (device memory from a {@link CachingDeviceAllocator}). Closing returns it to its allocator;
 * every later access through a tensor on it fails with "buffer already freed".
 */
public sealed interface Storage extends AutoCloseable permits HostBuffer, DeviceBuffer {
    /** Where the memory is: {@link Device#CPU} for host memory. */
    Device device();

    /** Size in bytes (as asked for). */
    long byteSize();

    /** Who holds it, as named at allocation. */
    String owner();

    /** What it holds. */
    MemoryCategory category();

    /** Whether it has been closed. */
    boolean isFreed();

    /** Returns the memory to its allocator. */
    @Override
    void close();
}
