// Shared device helpers, inlined into each kernel family by the loader (CudaKernels) and found by nvcc via -I.
// No system headers: NVRTC compiles these sources as they are. Every kernel is extern "C" (unmangled names).
#pragma once

typedef unsigned short bits16;

#define NEG_INF __int_as_float(0xff800000)
#define FLOAT_MAX 3.402823466e38f

// for (long i = first index of this thread; i < n; i += all threads of the grid)
#define GRID_STRIDE(i, n) \
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long)blockDim.x * gridDim.x)

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// Sum over the block, returned to every thread. blockDim.x must be a multiple of 32 (at most 1024). Contains barriers:
// every thread of the block must call it.
__device__ float block_sum(float v) {
    __shared__ float partial[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads(); // an earlier call may still be reading partial
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    return warp_sum(lane < warps ? partial[lane] : 0.0f);
}

// Maximum over the block, returned to every thread; same rules as block_sum.
__device__ float block_max(float v) {
    __shared__ float partial[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    return warp_max(lane < warps ? partial[lane] : NEG_INF);
}

// IEEE conversions, round to nearest even (PTX cvt; bf16 needs sm_80+).
__device__ __forceinline__ bits16 f32_to_bf16(float f) {
    bits16 h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

__device__ __forceinline__ float bf16_to_f32(bits16 h) {
    return __uint_as_float(((unsigned int)h) << 16);
}

__device__ __forceinline__ bits16 f32_to_f16(float f) {
    bits16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

__device__ __forceinline__ float f16_to_f32(bits16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
