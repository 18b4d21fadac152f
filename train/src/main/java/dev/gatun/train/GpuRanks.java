package dev.gatun.train;

import dev.gatun.bindings.Cuda;
import dev.gatun.collectives.Communicator;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.ops.cuda.CudaBackend;
import dev.gatun.ops.cuda.CudaBackendOptions;

import java.util.OptionalDouble;

/** What the GPU placements share: a rank's allocator and backend on its stream's GPU, and the GPU's peak. */
final class GpuRanks {
    private GpuRanks() {
    }

    /** Runs {@code body} with a caching allocator and a CUDA backend on {@code stream}'s GPU, closed afterwards. */
    static <R> R run(Communicator world, CudaStream stream, CudaBackendOptions options, RankPlacement.Body<R> body)
            throws Exception {
        Cuda.setDevice(stream.device().ordinal());
        try (CachingDeviceAllocator allocator = CachingDeviceAllocator.cuda(stream.device());
             CudaBackend backend = new CudaBackend(stream, allocator, options)) {
            return body.run(new RankPlacement.Rank(world, backend, allocator));
        }
    }

    /** Fails with what to do when there is no usable GPU. */
    static void requireCuda() {
        if (!Cuda.isAvailable()) {
            throw new IllegalArgumentException("--device cuda: no CUDA device: " + Cuda.unavailableReason()
                    + "; use --device cpu");
        }
    }

    /** The GEMM peak of GPU {@code ordinal}: TF32 tensor cores when allowed, else fp32 (the GEMMs are fp32). */
    static OptionalDouble peak(int ordinal, CudaBackendOptions options) {
        return GpuPeak.of(ordinal, options.tf32() ? GpuPeak.GemmMath.TF32 : GpuPeak.GemmMath.FP32);
    }
}
