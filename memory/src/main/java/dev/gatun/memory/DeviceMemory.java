package dev.gatun.memory;

import java.util.OptionalLong;

/**
 * Raw device memory under a {@link CachingDeviceAllocator}: whole segments from the device ({@code cudaMalloc} /
 * {@code cudaFree} on CUDA). Small so that the allocator's logic runs the same over any backend.
 */
public interface DeviceMemory {
    /** The device this memory belongs to. */
    Device device();

    /** Allocates {@code bytes}; returns the address, or empty when the device is out of memory. */
    OptionalLong malloc(long bytes);

    /** Frees an address from {@link #malloc}. */
    void free(long address);

    /** Bytes free on the device now. */
    long freeBytes();

    /** Bytes the device has in all. */
    long totalBytes();

    /** CUDA device memory of {@code device}. */
    static DeviceMemory cuda(Device device) {
        return new CudaDeviceMemory(device);
    }
}
