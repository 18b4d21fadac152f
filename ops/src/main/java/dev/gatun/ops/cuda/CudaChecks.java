package dev.gatun.ops.cuda;

import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.Transpose;

/** Argument checks of the CUDA backend, before any launch: devices, dtypes, shapes, and the int ranges kernels take. */
final class CudaChecks {
    private final Device device;

    CudaChecks(Device device) {
        this.device = device;
    }

    record Gemm(int batch, int m, int n, int k, int lda, long strideA, int ldb, long strideB, long strideC) {
    }

    record Rows(int rows, int columns) {
    }

    record Attention(int b, int t, int nh, int hs) {
        long headElements() {
            return (long) b * t * nh * hs;
        }
    }

    record Embedding(int b, int t, int c, int v) {
    }

    Gemm gemm(Tensor a, Transpose opA, Tensor b, Transpose opB, Tensor c) {
        on("gemm", a, b, c);
        if (a.dtype() != b.dtype() || !a.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("gemm: A and B must share a floating-point dtype, got "
                    + a.dtype().shortName() + " and " + b.dtype().shortName());
        }
        if (c.dtype() != DType.FP32 && c.dtype() != a.dtype()) {
            throw new IllegalArgumentException("gemm: C must be fp32 or " + a.dtype().shortName() + ", got "
                    + c.dtype().shortName());
        }
        int rank = a.shape().rank();
        if ((rank != 2 && rank != 3) || b.shape().rank() != rank || c.shape().rank() != rank) {
            throw new IllegalArgumentException("gemm: A, B and C must all be 2-D or all 3-D, got " + a.shape() + ", "
                    + b.shape() + ", " + c.shape());
        }
        int batch = rank == 3 ? toInt("gemm batch", a.shape().dim(0)) : 1;
        if (rank == 3 && (b.shape().dim(0) != batch || c.shape().dim(0) != batch)) {
            throw new IllegalArgumentException("gemm: batch sizes differ: " + a.shape() + ", " + b.shape() + ", "
                    + c.shape());
        }
        int ar = toInt("gemm A rows", a.shape().dim(-2));
        int ac = toInt("gemm A columns", a.shape().dim(-1));
        int br = toInt("gemm B rows", b.shape().dim(-2));
        int bc = toInt("gemm B columns", b.shape().dim(-1));
        int m = opA.isTransposed() ? ac : ar;
        int k = opA.isTransposed() ? ar : ac;
        int kb = opB.isTransposed() ? bc : br;
        int n = opB.isTransposed() ? br : bc;
        if (k != kb || c.shape().dim(-2) != m || c.shape().dim(-1) != n) {
            throw new IllegalArgumentException("gemm: op(A) is [" + m + ", " + k + "] and op(B) [" + kb + ", " + n
                    + "], so C must be [" + m + ", " + n + "] with equal inner sizes; got A " + a.shape() + " (" + opA
                    + "), B " + b.shape() + " (" + opB + "), C " + c.shape());
        }
        return new Gemm(batch, m, n, k, Math.max(1, ac), (long) ar * ac, Math.max(1, bc), (long) br * bc, (long) m * n);
    }

    int addBias(Tensor out, Tensor bias) {
        fp32("addBias", out, bias);
        return columns("addBias", out, bias);
    }

    int biasBackward(Tensor dout, Tensor dbias) {
        fp32("biasBackward", dout, dbias);
        return columns("biasBackward", dout, dbias);
    }

    void sameShape(String op, Tensor first, Tensor... rest) {
        fp32(op, first);
        fp32(op, rest);
        for (Tensor t : rest) {
            if (!t.shape().equals(first.shape())) {
                throw new IllegalArgumentException(op + ": '" + t.name() + "' is " + t.shape() + " but '"
                        + first.name() + "' is " + first.shape() + "; shapes must match");
            }
        }
    }

    Rows layerNorm(Tensor in, Tensor weight, Tensor bias, float eps, Tensor out, Tensor mean, Tensor rstd) {
        if (!(eps > 0)) {
            throw new IllegalArgumentException("layerNorm: eps must be > 0, got " + eps);
        }
        fp32("layerNorm", in, weight, bias, out, mean, rstd);
        Rows r = rows("layerNorm", in);
        vector("layerNorm", weight, r.columns());
        vector("layerNorm", bias, r.columns());
        sameShape("layerNorm", in, out);
        vector("layerNorm", mean, r.rows());
        vector("layerNorm", rstd, r.rows());
        return r;
    }

    Rows layerNormBackward(Tensor dout, Tensor in, Tensor weight, Tensor mean, Tensor rstd, Tensor din,
                           Tensor dweight, Tensor dbias) {
        fp32("layerNormBackward", dout, in, weight, mean, rstd, din, dweight, dbias);
        Rows r = rows("layerNormBackward", in);
        sameShape("layerNormBackward", in, dout, din);
        vector("layerNormBackward", weight, r.columns());
        vector("layerNormBackward", dweight, r.columns());
        vector("layerNormBackward", dbias, r.columns());
        vector("layerNormBackward", mean, r.rows());
        vector("layerNormBackward", rstd, r.rows());
        return r;
    }

    Rows softmax(Tensor in, Tensor out) {
        sameShape("softmax", in, out);
        return rows("softmax", in);
    }

    Attention attention(Tensor qkv, int numHeads, Tensor out, Tensor att) {
        fp32("attention", qkv, out, att);
        Attention d = attentionDims("attention", qkv, numHeads);
        expect("attention", out, d.b(), d.t(), (long) d.nh() * d.hs());
        expect("attention", att, d.b(), d.nh(), d.t(), d.t());
        return d;
    }

    Attention attentionBackward(Tensor dout, Tensor qkv, Tensor att, int numHeads, Tensor dqkv) {
        fp32("attentionBackward", dout, qkv, att, dqkv);
        Attention d = attentionDims("attentionBackward", qkv, numHeads);
        expect("attentionBackward", dout, d.b(), d.t(), (long) d.nh() * d.hs());
        expect("attentionBackward", att, d.b(), d.nh(), d.t(), d.t());
        expect("attentionBackward", dqkv, d.b(), d.t(), 3L * d.nh() * d.hs());
        return d;
    }

    Embedding embedding(Tensor tokens, Tensor wte, Tensor wpe, Tensor out) {
        Embedding e = embeddingDims("embedding", tokens, wte, wpe);
        fp32("embedding", out);
        expect("embedding", out, e.b(), e.t(), e.c());
        return e;
    }

    Embedding embeddingBackward(Tensor dout, Tensor tokens, Tensor dwte, Tensor dwpe) {
        Embedding e = embeddingDims("embeddingBackward", tokens, dwte, dwpe);
        fp32("embeddingBackward", dout);
        expect("embeddingBackward", dout, e.b(), e.t(), e.c());
        return e;
    }

    Rows crossEntropy(Tensor logits, Tensor targets, Tensor losses, Tensor dlogits) {
        fp32("crossEntropy", logits, losses, dlogits);
        int32("crossEntropy", targets);
        Rows r = rows("crossEntropy", logits);
        sameShape("crossEntropy", logits, dlogits);
        vector("crossEntropy", targets, r.rows());
        vector("crossEntropy", losses, r.rows());
        return r;
    }

    void cast(Tensor src, Tensor dst) {
        on("cast", src, dst);
        for (Tensor t : new Tensor[]{src, dst}) {
            if (!t.dtype().isFloatingPoint()) {
                throw new IllegalArgumentException("cast: '" + t.name() + "' is " + t.dtype().shortName()
                        + "; cast converts between fp32, bf16 and fp16");
            }
        }
        if (!src.shape().equals(dst.shape())) {
            throw new IllegalArgumentException("cast: shapes differ: " + src.shape() + " and " + dst.shape());
        }
    }

    void scaleAndCheckFinite(Tensor x, Tensor flag) {
        fp32("scaleAndCheckFinite", x);
        int32("scaleAndCheckFinite", flag);
        scalar("scaleAndCheckFinite", flag);
    }

    void sumOfSquares(Tensor x, Tensor out) {
        fp32("sumOfSquares", x, out);
        scalar("sumOfSquares", out);
    }

    private Attention attentionDims(String op, Tensor qkv, int numHeads) {
        if (qkv.shape().rank() != 3 || qkv.shape().dim(2) % 3 != 0) {
            throw new IllegalArgumentException(op + ": qkv must be [B, T, 3C], got " + qkv.shape());
        }
        long c = qkv.shape().dim(2) / 3;
        if (numHeads <= 0 || c % numHeads != 0) {
            throw new IllegalArgumentException(op + ": numHeads=" + numHeads + " must divide C=" + c);
        }
        Attention d = new Attention(toInt(op + " B", qkv.shape().dim(0)), toInt(op + " T", qkv.shape().dim(1)),
                numHeads, toInt(op + " head size", c / numHeads));
        toInt(op + " B·NH·T", (long) d.b() * d.nh() * d.t());
        return d;
    }

    private Embedding embeddingDims(String op, Tensor tokens, Tensor wte, Tensor wpe) {
        int32(op, tokens);
        fp32(op, wte, wpe);
        if (tokens.shape().rank() != 2 || wte.shape().rank() != 2 || wpe.shape().rank() != 2) {
            throw new IllegalArgumentException(op + ": tokens [B, T], wte [V, C], wpe [maxT, C] expected, got "
                    + tokens.shape() + ", " + wte.shape() + ", " + wpe.shape());
        }
        Embedding e = new Embedding(toInt(op + " B", tokens.shape().dim(0)), toInt(op + " T", tokens.shape().dim(1)),
                toInt(op + " C", wte.shape().dim(1)), toInt(op + " V", wte.shape().dim(0)));
        if (wpe.shape().dim(1) != e.c() || wpe.shape().dim(0) < e.t()) {
            throw new IllegalArgumentException(op + ": wpe must be [maxT >= T=" + e.t() + ", C=" + e.c() + "], got "
                    + wpe.shape());
        }
        return e;
    }

    private Rows rows(String op, Tensor t) {
        if (t.shape().rank() < 1) {
            throw new IllegalArgumentException(op + ": '" + t.name() + "' needs at least one dimension");
        }
        long columns = t.shape().dim(-1);
        return new Rows(toInt(op + " rows", columns == 0 ? 0 : t.numel() / columns), toInt(op + " columns", columns));
    }

    private int columns(String op, Tensor matrix, Tensor vector) {
        Rows r = rows(op, matrix);
        vector(op, vector, r.columns());
        return r.columns();
    }

    private void vector(String op, Tensor t, long length) {
        if (t.shape().rank() != 1 || t.shape().dim(0) != length) {
            throw new IllegalArgumentException(op + ": '" + t.name() + "' must be [" + length + "], got " + t.shape());
        }
    }

    private void scalar(String op, Tensor t) {
        if (t.numel() != 1 || t.shape().rank() > 1) {
            throw new IllegalArgumentException(op + ": '" + t.name() + "' must be a scalar ([] or [1]), got "
                    + t.shape());
        }
    }

    private void expect(String op, Tensor t, long... dims) {
        if (!t.shape().equals(dev.gatun.memory.Shape.of(dims))) {
            throw new IllegalArgumentException(op + ": '" + t.name() + "' must be "
                    + dev.gatun.memory.Shape.of(dims) + ", got " + t.shape());
        }
    }

    private void fp32(String op, Tensor... tensors) {
        on(op, tensors);
        for (Tensor t : tensors) {
            if (t.dtype() != DType.FP32) {
                throw new IllegalArgumentException(op + ": '" + t.name() + "' must be fp32, got "
                        + t.dtype().shortName());
            }
        }
    }

    private void int32(String op, Tensor t) {
        on(op, t);
        if (t.dtype() != DType.INT32) {
            throw new IllegalArgumentException(op + ": '" + t.name() + "' must be int32, got " + t.dtype().shortName());
        }
    }

    private void on(String op, Tensor... tensors) {
        for (Tensor t : tensors) {
            if (!t.device().equals(device)) {
                throw new IllegalArgumentException(op + ": '" + t.name() + "' is on " + t.device() + ", the backend on "
                        + device);
            }
        }
    }

    private static int toInt(String what, long value) {
        if (value > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(what + " = " + value + " exceeds the 2^31-1 a kernel index takes");
        }
        return (int) value;
    }
}
