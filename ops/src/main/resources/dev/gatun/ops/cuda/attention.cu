// Layout changes around the attention GEMMs: qkv [B, T, (NH + 2 NKV) hs] (the query heads, then the key heads, then
// the value heads) <-> per-head q, k, v [B, NH, T, hs], query head h with key/value head h / (NH/NKV); and the heads'
// outputs [B, NH, T, hs] <-> [B, T, NH, hs] = [B, T, C].
#include "common.cuh"

// i indexes [b, h, t, d] of a [B, NH, T, hs] tensor: its four coordinates.
__device__ __forceinline__ void head_major(long i, int T, int NH, int hs, long* b, int* h, int* t, int* d) {
    *d = (int)(i % hs);
    long r = i / hs;
    *t = (int)(r % T);
    r /= T;
    *h = (int)(r % NH);
    *b = r / NH;
}

// i indexes [b, h, t, d]; returns the offset of (b, t, h, d) in a [B, T, NH, hs] tensor whose rows are `row` long.
__device__ __forceinline__ long head_major_to_token_major(long i, int T, int NH, int hs, long row) {
    long b;
    int h, t, d;
    head_major(i, T, NH, hs, &b, &h, &t, &d);
    return (b * T + t) * row + (long)h * hs + d;
}

extern "C" __global__ void permute_qkv(float* q, float* k, float* v, const float* qkv, int B, int T, int NH, int NKV,
                                       int hs) {
    long C = (long)NH * hs, CKV = (long)NKV * hs, W = C + 2 * CKV;
    int group = NH / NKV;
    GRID_STRIDE(i, (long)B * NH * T * hs) {
        long b;
        int h, t, d;
        head_major(i, T, NH, hs, &b, &h, &t, &d);
        long row = (b * T + t) * W;
        long kv = (long)(h / group) * hs + d;
        q[i] = qkv[row + (long)h * hs + d];
        k[i] = qkv[row + C + kv];
        v[i] = qkv[row + C + CKV + kv];
    }
}

// dqkv from dq, dk, dv [B, NH, T, hs]: a key or value head's gradient is the sum over its group's query heads, in
// head order. One thread per element of dqkv.
extern "C" __global__ void unpermute_qkv(float* dqkv, const float* dq, const float* dk, const float* dv, int B, int T,
                                         int NH, int NKV, int hs) {
    long C = (long)NH * hs, CKV = (long)NKV * hs, W = C + 2 * CKV;
    int group = NH / NKV;
    GRID_STRIDE(i, (long)B * T * W) {
        long row = i / W;
        long col = i % W;
        int t = (int)(row % T);
        long b = row / T;
        if (col < C) {
            int h = (int)(col / hs), d = (int)(col % hs);
            dqkv[i] = dq[((b * NH + h) * T + t) * hs + d];
        } else {
            const float* src = col < C + CKV ? dk : dv;
            long kc = (col - C) % CKV;
            int kh = (int)(kc / hs), d = (int)(kc % hs);
            float s = 0.0f;
            for (int j = 0; j < group; j++) s += src[((b * NH + (long)kh * group + j) * T + t) * hs + d];
            dqkv[i] = s;
        }
    }
}

// out [B, T, C] from the heads' outputs y [B, NH, T, hs].
extern "C" __global__ void unpermute_heads(float* out, const float* y, int B, int T, int NH, int hs) {
    GRID_STRIDE(i, (long)B * NH * T * hs) out[head_major_to_token_major(i, T, NH, hs, (long)NH * hs)] = y[i];
}

// dy [B, NH, T, hs] from dout [B, T, C].
extern "C" __global__ void permute_heads(float* dy, const float* dout, int B, int T, int NH, int hs) {
    GRID_STRIDE(i, (long)B * NH * T * hs) dy[i] = dout[head_major_to_token_major(i, T, NH, hs, (long)NH * hs)];
}
