// The Llama block's own kernels: RMSNorm forward and backward (one warp per row; the gain's gradient one thread per
// column, rows in order), the rotary embedding (one thread per pair), SwiGLU forward and backward (one thread per
// element of the gate).
#include "common.cuh"

extern "C" __global__ void rmsnorm_forward(float* out, float* rstd, const float* in, const float* weight, int N,
                                           int C, float eps) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const float* x = in + (long)row * C;
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) s += x[i] * x[i];
    float r = 1.0f / sqrtf(warp_sum(s) / C + eps);
    float* o = out + (long)row * C;
    for (int i = lane; i < C; i += 32) o[i] = x[i] * r * weight[i];
    if (lane == 0) rstd[row] = r;
}

// din = rstd (g - xhat mean(g xhat)), g = dout * weight, xhat = x rstd.
extern "C" __global__ void rmsnorm_backward_input(float* din, const float* dout, const float* in, const float* weight,
                                                  const float* rstd, int N, int C) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const float* x = in + (long)row * C;
    const float* dy = dout + (long)row * C;
    float r = rstd[row];
    float sum_gx = 0.0f;
    for (int i = lane; i < C; i += 32) sum_gx += dy[i] * weight[i] * x[i] * r;
    float mean_gx = warp_sum(sum_gx) / C;
    float* dx = din + (long)row * C;
    for (int i = lane; i < C; i += 32) dx[i] = r * (dy[i] * weight[i] - x[i] * r * mean_gx);
}

// dweight[c] += sum_r dout xhat: one thread per column, rows in order.
extern "C" __global__ void rmsnorm_backward_params(float* dweight, const float* dout, const float* in,
                                                   const float* rstd, int N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float dw = 0.0f;
    for (int r = 0; r < N; r++) {
        long i = (long)r * C + c;
        dw += dout[i] * in[i] * rstd[r];
    }
    dweight[c] += dw;
}

// The pairs (2i, 2i+1) of the first `heads` heads of each row of x [B, T, W] turned by sign * t * omega_i; out may be
// x. One thread per pair.
extern "C" __global__ void rotary(float* out, const float* x, const float* cos_table, const float* sin_table, int B,
                                  int T, int W, int heads, int hs, float sign) {
    int half = hs / 2;
    GRID_STRIDE(p, (long)B * T * heads * half) {
        int i = (int)(p % half);
        long r = p / half;
        int h = (int)(r % heads);
        long row = r / heads;
        int t = (int)(row % T);
        long at = row * W + (long)h * hs + 2 * i;
        float c = cos_table[(long)t * half + i];
        float s = sign * sin_table[(long)t * half + i];
        float x0 = x[at], x1 = x[at + 1];
        out[at] = x0 * c - x1 * s;
        out[at + 1] = x0 * s + x1 * c;
    }
}

// The columns [from, W) of each row of x [rows, W] copied to out (what the rotary embedding leaves as it is).
extern "C" __global__ void copy_columns(float* out, const float* x, long rows, int W, int from) {
    int rest = W - from;
    GRID_STRIDE(e, rows * rest) {
        long at = (e / rest) * W + from + e % rest;
        out[at] = x[at];
    }
}

__device__ __forceinline__ float sigmoid(float g) {
    return 1.0f / (1.0f + expf(-g));
}

// out [N, F] = silu(g) u, g and u the two halves of each row of gate_up [N, 2F].
extern "C" __global__ void swiglu_forward(float* out, const float* gate_up, long N, int F) {
    GRID_STRIDE(e, N * F) {
        long at = (e / F) * 2 * F + e % F;
        float g = gate_up[at];
        out[e] = g * sigmoid(g) * gate_up[at + F];
    }
}

// dg = dout u sigma(g) (1 + g (1 - sigma(g))), du = dout silu(g), into dgate_up [N, 2F].
extern "C" __global__ void swiglu_backward(float* dgate_up, const float* gate_up, const float* dout, long N, int F) {
    GRID_STRIDE(e, N * F) {
        long at = (e / F) * 2 * F + e % F;
        float g = gate_up[at];
        float u = gate_up[at + F];
        float s = sigmoid(g);
        float d = dout[e];
        dgate_up[at] = d * u * s * (1.0f + g * (1.0f - s));
        dgate_up[at + F] = d * g * s;
    }
}
