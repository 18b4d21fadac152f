// Token + position embedding and its backward. Ids outside [0, V) give NaN rows and are skipped in the backward,
// never an out-of-bounds access.
#include "common.cuh"

extern "C" __global__ void embedding_forward(float* out, const int* tokens, const float* wte, const float* wpe, int B,
                                             int T, int C, int V) {
    GRID_STRIDE(i, (long)B * T * C) {
        int c = (int)(i % C);
        long bt = i / C;
        int t = (int)(bt % T);
        int token = tokens[bt];
        out[i] = token >= 0 && token < V ? wte[(long)token * C + c] + wpe[(long)t * C + c] : __int_as_float(0x7fc00000);
    }
}

// dwpe[t, c] += sum_b dout[b, t, c], batches in order.
extern "C" __global__ void embedding_backward_wpe(float* dwpe, const float* dout, int B, int T, int C) {
    GRID_STRIDE(i, (long)T * C) {
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += dout[(long)b * T * C + i];
        dwpe[i] += s;
    }
}

// dwte[tokens[p], c] += dout[p, c]: one thread per column c walks the positions in order, so rows shared by several
// positions add up deterministically without atomics.
extern "C" __global__ void embedding_backward_wte(float* dwte, const float* dout, const int* tokens, int BT, int C,
                                                  int V) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    for (int p = 0; p < BT; p++) {
        int token = tokens[p];
        if (token >= 0 && token < V) dwte[(long)token * C + c] += dout[(long)p * C + c];
    }
}

// Vocabulary-parallel embedding, this rank's part: out[n, c] = wte[tokens[n] - offset, c] for the ids it holds
// (offset <= id < offset + S), 0 for ids another rank holds, NaN for ids outside [0, V).
extern "C" __global__ void vocab_embedding_forward(float* out, const int* tokens, const float* wte, int N, int C,
                                                   int S, int offset, int V) {
    GRID_STRIDE(i, (long)N * C) {
        int c = (int)(i % C);
        int token = tokens[i / C];
        int local = token - offset;
        out[i] = token < 0 || token >= V ? __int_as_float(0x7fc00000)
                                         : (local >= 0 && local < S ? wte[(long)local * C + c] : 0.0f);
    }
}

// dwte[tokens[p] - offset, c] += dout[p, c] for held ids (ids outside [0, V) are skipped, never reaching a padding
// row); one thread per column walks the positions in order.
extern "C" __global__ void vocab_embedding_backward(float* dwte, const float* dout, const int* tokens, int N, int C,
                                                    int S, int offset, int V) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    for (int p = 0; p < N; p++) {
        int token = tokens[p];
        int local = token - offset;
        if (token < V && local >= 0 && local < S) dwte[(long)local * C + c] += dout[(long)p * C + c];
    }
}
