package dev.gatun.memory;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.CudaException;

import java.lang.foreign.MemorySegment;
import java.util.OptionalLong;

/** {@link DeviceMemory} from {@code cudaMalloc} on one CUDA device. */
final class CudaDeviceMemory implements DeviceMemory {
    private static final int CUDA_ERROR_MEMORY_ALLOCATION = 2;
    private final Device device;

    CudaDeviceMemory(Device device) {
        if (!device.isCuda()) {
            throw new IllegalArgumentException("CUDA device memory needs a CUDA device, got " + device);
        }
        this.device = device;
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public OptionalLong malloc(long bytes) {
        Cuda.setDevice(device.ordinal());
        try {
            return OptionalLong.of(Cuda.malloc(bytes).address());
        } catch (CudaException e) {
            if (e.code() != CUDA_ERROR_MEMORY_ALLOCATION) {
                throw e;
            }
            try {
                Cuda.checkLastError("cudaMalloc out of memory"); // clears the error cudaMalloc left behind
            } catch (CudaException cleared) {
                // the same out-of-memory error, now cleared
            }
            return OptionalLong.empty();
        }
    }

    @Override
    public void free(long address) {
        Cuda.setDevice(device.ordinal());
        Cuda.free(MemorySegment.ofAddress(address));
    }

    @Override
    public long freeBytes() {
        Cuda.setDevice(device.ordinal());
        return Cuda.memGetInfo().freeBytes();
    }

    @Override
    public long totalBytes() {
        Cuda.setDevice(device.ordinal());
        return Cuda.memGetInfo().totalBytes();
    }
}
