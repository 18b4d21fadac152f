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

// Vocabulary-parallel cross-entropy in three passes over this rank's logits z [N, S], of which the columns j < valid
// are real ids (offset + j) and the rest padding; all-reduces over the tp group run between the passes. One block per
// row.

// Pass 1: max[n] = max_{j < valid} z[n, j]; target_logit[n] = z[n, target - offset] if this rank holds the target,
// 0 if another does, NaN if the target is outside [0, V).
extern "C" __global__ void vocab_logit_stats(float* max, float* target_logit, const float* logits, const int* targets,
                                             int S, int offset, int valid, int V) {
    const float* z = logits + (long)blockIdx.x * S;
    float mx = NEG_INF;
    for (int j = threadIdx.x; j < valid; j += blockDim.x) mx = fmaxf(mx, z[j]);
    mx = block_max(mx);
    if (threadIdx.x == 0) {
        int target = targets[blockIdx.x];
        int local = target - offset;
        max[blockIdx.x] = mx;
        target_logit[blockIdx.x] = target < 0 || target >= V ? __int_as_float(0x7fc00000)
                                                             : (local >= 0 && local < valid ? z[local] : 0.0f);
    }
}

// Pass 2: sum_exp[n] = sum_{j < valid} exp(z[n, j] - max[n]) with the global max.
extern "C" __global__ void vocab_sum_exp(float* sum_exp, const float* logits, const float* max, int S, int valid) {
    const float* z = logits + (long)blockIdx.x * S;
    float mx = max[blockIdx.x];
    float s = 0.0f;
    for (int j = threadIdx.x; j < valid; j += blockDim.x) s += expf(z[j] - mx);
    s = block_sum(s);
    if (threadIdx.x == 0) sum_exp[blockIdx.x] = s;
}

// Pass 3, from the reduced max, sum_exp and target_logit: losses[n] = log(sum_exp) + max - target_logit;
// dlogits[n, j] = (exp(z - max) / sum_exp - [offset + j == target]) * dscale for j < valid, 0 for padding. Each
// element is read and written by the same thread, so dlogits may be logits.
extern "C" __global__ void vocab_crossentropy(float* losses, float* dlogits, const float* logits, const int* targets,
                                              const float* max, const float* sum_exp, const float* target_logit,
                                              int S, int offset, int valid, float dscale) {
    long row = blockIdx.x;
    const float* z = logits + row * S;
    float* d = dlogits + row * S;
    float mx = max[row];
    float s = sum_exp[row];
    int local = targets[row] - offset;
    if (local >= valid) local = -1; // a target outside [0, V) (its loss is NaN) marks no padding column
    if (threadIdx.x == 0) losses[row] = logf(s) + mx - target_logit[row];
    for (int j = threadIdx.x; j < S; j += blockDim.x) {
        float p = j < valid ? expf(z[j] - mx) / s : 0.0f;
        d[j] = (p - (j == local ? 1.0f : 0.0f)) * dscale;
    }
}
