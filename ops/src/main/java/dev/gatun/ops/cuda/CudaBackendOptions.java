package dev.gatun.ops.cuda;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Options of a {@link CudaBackend}.
 *
 * @param tf32                 whether fp32 GEMMs may use TF32 tensor cores (10-bit mantissa inputs, fp32
 *                             accumulation): faster, about 1e-3 relative error instead of 1e-6
 * @param kernelCacheDirectory where compiled kernels are kept across processes; empty: compile once per process
 * @param workspaceBytes       cuBLAS workspace, taken from the backend's allocator
 */
public record CudaBackendOptions(boolean tf32, Optional<Path> kernelCacheDirectory, long workspaceBytes) {
    /** Full fp32 GEMMs, no disk cache, a 32 MiB cuBLAS workspace. */
    public static final CudaBackendOptions DEFAULT = new CudaBackendOptions(false, Optional.empty(), 32L << 20);

    public CudaBackendOptions {
        Objects.requireNonNull(kernelCacheDirectory, "kernelCacheDirectory must not be null (use Optional.empty())");
        if (workspaceBytes <= 0) {
            throw new IllegalArgumentException("cuBLAS workspace must be > 0 bytes, got " + workspaceBytes);
        }
    }

    /** These options with TF32 allowed or not. */
    public CudaBackendOptions withTf32(boolean allowed) {
        return new CudaBackendOptions(allowed, kernelCacheDirectory, workspaceBytes);
    }

    /** These options with compiled kernels kept in {@code directory}. */
    public CudaBackendOptions withKernelCache(Path directory) {
        return new CudaBackendOptions(tf32, Optional.of(directory), workspaceBytes);
    }
}
