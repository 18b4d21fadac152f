// AdamW (decoupled weight decay) on fp32 master weights and moments.
#include "common.cuh"

// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr (m/bc1 / (sqrt(v/bc2) + eps) + wd p), bc = 1 - beta^t.
extern "C" __global__ void adamw(float* p, const float* g, float* m, float* v, long n, float lr, float beta1,
                                 float beta2, float eps, float weight_decay, float bc1, float bc2) {
    GRID_STRIDE(i, n) {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float mhat = mi / bc1;
        float vhat = vi / bc2;
        float pi = p[i];
        p[i] = pi - lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * pi);
    }
}
