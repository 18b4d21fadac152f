package dev.gatun.memory;

/**
 * Where tensors get their memory: a {@link HostAllocator} for the CPU (pageable or pinned) or a
 * {@link CachingDeviceAllocator} for a CUDA device. Both book every byte with their {@link Accountant}.
 */
public interface TensorAllocator extends AutoCloseable {
    /** The device whose memory this allocator hands out. */
    Device device();

    /**
     * Allocates {@code bytes} for use on {@code stream} (device memory is reused in that stream's order; host memory
     * is not stream-ordered and ignores it).
     *
     * @param category what the memory holds
     * @param owner    who holds it, named in reports and leak errors, e.g. {@code "layer0.mlp.fc.weight"}
     * @throws IllegalArgumentException when {@code bytes} is not positive or {@code owner} is blank
     */
    Storage allocate(MemoryCategory category, String owner, long bytes, DeviceStream stream);

    /** The accountant this allocator books with. */
    Accountant accountant();

    /** Stops handing out memory; throws {@link MemoryLeakException} if any is still live. */
    @Override
    void close();
}
