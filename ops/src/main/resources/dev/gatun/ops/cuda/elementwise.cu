// Element-wise kernels: bias, residual add, scale, GELU, casts, loss-scale unscaling, sum of squares.
#include "common.cuh"

// out[n, c] += bias[c] over out [N, C] flattened to n = N*C elements.
extern "C" __global__ void add_bias(float* out, const float* bias, long n, int C) {
    GRID_STRIDE(i, n) out[i] += bias[i % C];
}

// dbias[c] += sum_r dout[r, c]: one thread per column, rows in order (deterministic).
extern "C" __global__ void bias_backward(float* dbias, const float* dout, int N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int r = 0; r < N; r++) s += dout[(long)r * C + c];
    dbias[c] += s;
}

extern "C" __global__ void add(float* out, const float* a, const float* b, long n) {
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

extern "C" __global__ void scale(float* x, float s, long n) {
    GRID_STRIDE(i, n) x[i] *= s;
}

#define GELU_SCALE 0.7978845608028654f // sqrt(2/pi)

extern "C" __global__ void gelu_forward(float* out, const float* in, long n) {
    GRID_STRIDE(i, n) {
        float x = in[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
    }
}

extern "C" __global__ void gelu_backward(float* din, const float* in, const float* dout, long n) {
    GRID_STRIDE(i, n) {
        float x = in[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float th = tanhf(u);
        float sech2 = 1.0f - th * th;
        float local = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        din[i] = local * dout[i];
    }
}

// x *= s; flag = 1 if a result is NaN or +-Inf (never reset here).
extern "C" __global__ void scale_check_finite(float* x, float s, long n, int* flag) {
    GRID_STRIDE(i, n) {
        float v = x[i] * s;
        x[i] = v;
        if (!(fabsf(v) <= FLOAT_MAX)) *flag = 1;
    }
}

// Pass 1 of a deterministic sum of squares: partial[block] = sum over this block's grid-stride elements.
extern "C" __global__ void sum_of_squares_partial(float* partial, const float* x, long n) {
    float s = 0.0f;
    GRID_STRIDE(i, n) s += x[i] * x[i];
    s = block_sum(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// Pass 2: out[0] += the partials in order (one thread).
extern "C" __global__ void sum_of_squares_final(float* out, const float* partial, int count) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    float s = 0.0f;
    for (int i = 0; i < count; i++) s += partial[i];
    out[0] += s;
}

extern "C" __global__ void cast_f32_bf16(bits16* dst, const float* src, long n) {
    GRID_STRIDE(i, n) dst[i] = f32_to_bf16(src[i]);
}

extern "C" __global__ void cast_bf16_f32(float* dst, const bits16* src, long n) {
    GRID_STRIDE(i, n) dst[i] = bf16_to_f32(src[i]);
}

extern "C" __global__ void cast_f32_f16(bits16* dst, const float* src, long n) {
    GRID_STRIDE(i, n) dst[i] = f32_to_f16(src[i]);
}

extern "C" __global__ void cast_f16_f32(float* dst, const bits16* src, long n) {
    GRID_STRIDE(i, n) dst[i] = f16_to_f32(src[i]);
}

extern "C" __global__ void cast_bf16_f16(bits16* dst, const bits16* src, long n) {
    GRID_STRIDE(i, n) dst[i] = f32_to_f16(bf16_to_f32(src[i]));
}

extern "C" __global__ void cast_f16_bf16(bits16* dst, const bits16* src, long n) {
    GRID_STRIDE(i, n) dst[i] = f32_to_bf16(f16_to_f32(src[i]));
}
