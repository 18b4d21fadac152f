// Layout changes around the attention GEMMs: qkv [B, T, 3, NH, hs] <-> per-head q, k, v [B, NH, T, hs], and the
// heads' outputs [B, NH, T, hs] <-> [B, T, NH, hs] = [B, T, C].
#include "common.cuh"

// i indexes [b, h, t, d]; returns the offset of (b, t, h, d) in a [B, T, NH, hs] tensor whose rows are `row` long.
__device__ __forceinline__ long head_major_to_token_major(long i, int T, int NH, int hs, long row) {
    int d = (int)(i % hs);
    long r = i / hs;
    int t = (int)(r % T);
    r /= T;
    int h = (int)(r % NH);
    long b = r / NH;
    return (b * T + t) * row + (long)h * hs + d;
}

extern "C" __global__ void permute_qkv(float* q, float* k, float* v, const float* qkv, int B, int T, int NH, int hs) {
    long C = (long)NH * hs;
    GRID_STRIDE(i, (long)B * NH * T * hs) {
        long src = head_major_to_token_major(i, T, NH, hs, 3 * C);
        q[i] = qkv[src];
        k[i] = qkv[src + C];
        v[i] = qkv[src + 2 * C];
    }
}

extern "C" __global__ void unpermute_qkv(float* dqkv, const float* dq, const float* dk, const float* dv, int B, int T,
                                         int NH, int hs) {
    long C = (long)NH * hs;
    GRID_STRIDE(i, (long)B * NH * T * hs) {
        long dst = head_major_to_token_major(i, T, NH, hs, 3 * C);
        dqkv[dst] = dq[i];
        dqkv[dst + C] = dk[i];
        dqkv[dst + 2 * C] = dv[i];
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
