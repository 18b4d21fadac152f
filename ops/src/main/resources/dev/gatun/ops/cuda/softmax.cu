// Softmax over rows, and the causal (masked) softmax of attention, forward and backward. One block per row.
#include "common.cuh"

extern "C" __global__ void softmax_forward(float* out, const float* in, int N, int V) {
    const float* x = in + (long)blockIdx.x * V;
    float* o = out + (long)blockIdx.x * V;
    float mx = NEG_INF;
    for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, x[i]);
    mx = block_max(mx);
    float s = 0.0f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(x[i] - mx);
    s = block_sum(s);
    for (int i = threadIdx.x; i < V; i += blockDim.x) o[i] = expf(x[i] - mx) / s;
}

// Row r of preatt [rows, T] is query position t = r mod T: att[j] = softmax over j <= t, 0 for j > t.
extern "C" __global__ void softmax_causal_forward(float* att, const float* preatt, int rows, int T) {
    int t = blockIdx.x % T;
    const float* x = preatt + (long)blockIdx.x * T;
    float* o = att + (long)blockIdx.x * T;
    float mx = NEG_INF;
    for (int j = threadIdx.x; j <= t; j += blockDim.x) mx = fmaxf(mx, x[j]);
    mx = block_max(mx);
    float s = 0.0f;
    for (int j = threadIdx.x; j <= t; j += blockDim.x) s += expf(x[j] - mx);
    s = block_sum(s);
    for (int j = threadIdx.x; j < T; j += blockDim.x) o[j] = j <= t ? expf(x[j] - mx) / s : 0.0f;
}

// dpreatt[j] = att[j] (datt[j] - sum_k att[k] datt[k]) for j <= t, 0 above the diagonal. dpreatt may be datt.
extern "C" __global__ void softmax_causal_backward(float* dpreatt, const float* att, const float* datt, int rows,
                                                   int T) {
    int t = blockIdx.x % T;
    const float* a = att + (long)blockIdx.x * T;
    const float* d = datt + (long)blockIdx.x * T;
    float* o = dpreatt + (long)blockIdx.x * T;
    float dot = 0.0f;
    for (int j = threadIdx.x; j <= t; j += blockDim.x) dot += a[j] * d[j];
    dot = block_sum(dot);
    for (int j = threadIdx.x; j < T; j += blockDim.x) o[j] = j <= t ? a[j] * (d[j] - dot) : 0.0f;
}
