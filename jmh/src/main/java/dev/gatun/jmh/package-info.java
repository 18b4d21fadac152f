/**
 * JMH benchmarks: {@link CpuGemmBenchmark} (the CPU backend's fp32 GEMM, compared with OpenBLAS by
 * {@code jmh/gemm-vs-openblas.sh}) and {@link HostCopyBenchmark} ({@code MemorySegment.copy} against {@code memcpy});
 * on a GPU, {@link CublasGemmBenchmark} (bf16 cuBLAS GEMM, compared with {@code torch.matmul}),
 * {@link CudaKernelBenchmark} (the memory-bound kernels' achieved bandwidth) and {@link CachingAllocatorBenchmark} (a
 * cached block against {@code cudaMalloc} and {@code cudaFree}). Those with a result to check (the GEMMs, the copy, the
 * allocator's reuse) check it once in setup before timing; the GPU ones fail in setup, with the reason, without a
 * device.
 */
package dev.gatun.jmh;
