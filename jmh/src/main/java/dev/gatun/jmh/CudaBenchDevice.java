package dev.gatun.jmh;

import dev.gatun.bindings.Cuda;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.Device;
import dev.gatun.ops.cuda.CudaBackend;
import dev.gatun.ops.cuda.CudaBackendOptions;

/** The GPU benchmarks' device 0: a stream, a caching allocator and a CUDA backend on them, closed together. */
record CudaBenchDevice(CudaStream stream, CachingDeviceAllocator memory, CudaBackend backend) implements AutoCloseable {
    /** Throws with the reason when there is no CUDA device, so the benchmark fails in its setup. */
    static void requireGpu() {
        if (!Cuda.isAvailable()) {
            throw new IllegalStateException("no CUDA device: " + Cuda.unavailableReason());
        }
    }

    static CudaBenchDevice open() {
        requireGpu();
        Device gpu = Device.cuda(0);
        CudaStream stream = new CudaStream(gpu);
        CachingDeviceAllocator memory = CachingDeviceAllocator.cuda(gpu);
        return new CudaBenchDevice(stream, memory, new CudaBackend(stream, memory, CudaBackendOptions.DEFAULT));
    }

    @Override
    public void close() {
        backend.close();
        memory.close();
        stream.close();
    }
}
