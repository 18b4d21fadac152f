/**
 * The {@link dev.gatun.ops.Backend} on the CPU, in pure Java: {@link CpuBackend} runs every operation on host tensors
 * with the Vector API, large inputs split into tasks on a {@link java.util.concurrent.ForkJoinPool}, and
 * {@link CpuGemm} is its BLIS-style GEMM (packed panels, register-blocked micro-kernels, fp32 accumulation). Results
 * are deterministic whatever the pool's size or timing: the split into tasks depends only on the sizes, and every
 * reduction adds in a fixed order. Every operation is complete when it returns.
 */
package dev.gatun.ops.cpu;
