// Cross-entropy fused with the softmax over the vocabulary: loss and logits gradient in one pass per row.
#include "common.cuh"

// losses[n] = logsumexp(x) - x[target]; dlogits = (softmax(x) - onehot(target)) * dscale. dlogits may be logits.
// A target outside [0, V) gives a NaN loss.
extern "C" __global__ void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                                         const int* targets, int N, int V, float dscale) {
    const float* x = logits + (long)blockIdx.x * V;
    float* d = dlogits + (long)blockIdx.x * V;
    float mx = NEG_INF;
    for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, x[i]);
    mx = block_max(mx);
    float s = 0.0f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(x[i] - mx);
    s = block_sum(s);
    int target = targets[blockIdx.x];
    bool valid = target >= 0 && target < V;
    float x_target = valid ? x[target] : __int_as_float(0x7fc00000);
    __syncthreads(); // every thread has read x[target] before any overwrites it (in-place gradient)
    if (threadIdx.x == 0) losses[blockIdx.x] = logf(s) + mx - x_target;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float p = expf(x[i] - mx) / s;
        d[i] = (p - (i == target ? 1.0f : 0.0f)) * dscale;
    }
}
