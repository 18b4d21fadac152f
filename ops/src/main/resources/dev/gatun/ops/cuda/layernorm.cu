// LayerNorm over the last dimension: forward (saving mean and rstd) and backward. One warp per row.
#include "common.cuh"

extern "C" __global__ void layernorm_forward(float* out, float* mean, float* rstd, const float* in,
                                             const float* weight, const float* bias, int N, int C, float eps) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const float* x = in + (long)row * C;
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) s += x[i];
    float m = warp_sum(s) / C;
    float var = 0.0f;
    for (int i = lane; i < C; i += 32) {
        float d = x[i] - m;
        var += d * d;
    }
    float r = 1.0f / sqrtf(warp_sum(var) / C + eps);
    float* o = out + (long)row * C;
    for (int i = lane; i < C; i += 32) o[i] = (x[i] - m) * r * weight[i] + bias[i];
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

// din = rstd (g - mean(g) - xhat mean(g xhat)), g = dout * weight, xhat = (x - mean) rstd.
extern "C" __global__ void layernorm_backward_input(float* din, const float* dout, const float* in,
                                                    const float* weight, const float* mean, const float* rstd,
                                                    int N, int C) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const float* x = in + (long)row * C;
    const float* dy = dout + (long)row * C;
    float m = mean[row], r = rstd[row];
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int i = lane; i < C; i += 32) {
        float g = dy[i] * weight[i];
        sum_g += g;
        sum_gx += g * (x[i] - m) * r;
    }
    float mean_g = warp_sum(sum_g) / C;
    float mean_gx = warp_sum(sum_gx) / C;
    float* dx = din + (long)row * C;
    for (int i = lane; i < C; i += 32) {
        float xhat = (x[i] - m) * r;
        dx[i] = r * (dy[i] * weight[i] - mean_g - xhat * mean_gx);
    }
}

// dweight[c] += sum_r dout xhat, dbias[c] += sum_r dout: one thread per column, rows in order.
extern "C" __global__ void layernorm_backward_params(float* dweight, float* dbias, const float* dout,
                                                     const float* in, const float* mean, const float* rstd,
                                                     int N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float dw = 0.0f, db = 0.0f;
    for (int r = 0; r < N; r++) {
        long i = (long)r * C + c;
        float d = dout[i];
        dw += d * (in[i] - mean[r]) * rstd[r];
        db += d;
    }
    dweight[c] += dw;
    dbias[c] += db;
}
