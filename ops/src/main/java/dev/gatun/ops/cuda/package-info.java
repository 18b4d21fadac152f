/**
 * The {@link dev.gatun.ops.Backend} on one CUDA device: {@link CudaBackend} runs GEMMs through cuBLAS (tensor-op math
 * for bf16/fp16 inputs, TF32 for fp32 only when {@link CudaBackendOptions#tf32()} allows it) and every other operation
 * as a kernel from the CUDA C sources under {@code dev/gatun/ops/cuda/}, compiled by NVRTC for the device at first use
 * (optionally cached on disk) and launched on the backend's stream. {@link KernelLoad} says how each kernel family was
 * obtained and how long it took. Reductions are deterministic: a fixed order for a given shape, no atomics.
 */
package dev.gatun.ops.cuda;
