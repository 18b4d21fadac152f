package dev.gatun.ops;

import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * The argument checks of every {@link Backend} operation, shared by the backends so that they accept and reject
 * exactly the same calls. Each method takes the backend's device, checks every tensor against it, then the dtypes and
 * shapes the {@link Backend} documentation states (the sizes {@code B, T, C, NH, V, N} are derived from the first
 * tensor that fixes them, every other tensor is checked against them), and that outputs do not overlap other
 * arguments except where the documentation allows an output to be an input ({@link Backend#add},
 * {@link Backend#gelu}, {@link Backend#crossEntropy}'s {@code dlogits}); even there only the very same memory is
 * allowed, never a partial overlap. Sizes a kernel indexes with are checked to fit an {@code int}.
 *
 * <p>Where a per-row vector is {@code [N]} ({@code mean}, {@code rstd}, {@code targets}, {@code losses}), the leading
 * dimensions of the rows tensor are accepted as well ({@code [B, T]} for rows {@code [B, T, C]}).
 *
 * <p>Every failure is an {@link IllegalArgumentException} (a {@link NullPointerException} for a null argument) whose
 * message names the operation, the argument (and the tensor's owner name) and what was expected, e.g.
 * {@code "layerNorm: weight ('ln1.w') must be fp32 [768], got bf16 [768]"}.
 */
public final class OpChecks {
    private static final DType FP32 = DType.FP32;
    private static final DType INT32 = DType.INT32;

    private OpChecks() {
    }

    /** The sizes of a row-wise operation: {@code rows} rows (N) of {@code columns} elements (C or V). */
    public record RowDims(int rows, int columns) {
    }

    /** The sizes of attention: batch {@code B}, sequence {@code T}, heads {@code NH} of size {@code hs}. */
    public record AttentionDims(int batch, int seqLen, int numHeads, int headSize, int numKvHeads) {
        /** Multi-head attention: as many key/value heads as query heads. */
        public AttentionDims(int batch, int seqLen, int numHeads, int headSize) {
            this(batch, seqLen, numHeads, headSize, numHeads);
        }

        /** {@code C = NH·hs}: the queries' (and the output's) width. */
        public int channels() {
            return numHeads * headSize;
        }

        /** {@code NKV·hs}: the keys' width, and the values'. */
        public int kvChannels() {
            return numKvHeads * headSize;
        }

        /** A row of the fused projection: {@code (NH + 2·NKV)·hs}. */
        public int qkvWidth() {
            return channels() + 2 * kvChannels();
        }

        /** Query heads per key/value head, {@code NH/NKV}. */
        public int group() {
            return numHeads / numKvHeads;
        }
    }

    /** The sizes of the embedding: batch {@code B}, sequence {@code T}, channels {@code C}, vocabulary {@code V}. */
    public record EmbeddingDims(int batch, int seqLen, int channels, int vocab) {
    }

    /**
     * {@link Backend#gemm}: {@code A} and {@code B} share a dtype of fp32, bf16 or fp16; {@code C} is fp32 or that
     * dtype; all 2-D or all 3-D with one batch size; inner sizes agree; {@code C} is {@code [batch?, m, n]} and does not
     * overlap {@code A} or {@code B}.
     */
    public static GemmDims gemm(Device device, Tensor a, Transpose opA, Tensor b, Transpose opB, Tensor c) {
        String op = "gemm";
        on(device, op, "A", a, "B", b, "C", c);
        Objects.requireNonNull(opA, "gemm: opA must not be null");
        Objects.requireNonNull(opB, "gemm: opB must not be null");
        if (!isGemmInput(a.dtype()) || b.dtype() != a.dtype()) {
            throw new IllegalArgumentException("gemm: A and B must share a dtype of fp32, bf16 or fp16, got A "
                    + quoted(a) + " " + typed(a) + " and B " + quoted(b) + " " + typed(b));
        }
        if (c.dtype() != FP32 && c.dtype() != a.dtype()) {
            throw new IllegalArgumentException("gemm: C " + quoted(c) + " must be fp32 or " + a.dtype().shortName()
                    + " (the dtype of A and B), got " + typed(c));
        }
        int rank = a.shape().rank();
        if ((rank != 2 && rank != 3) || b.shape().rank() != rank || c.shape().rank() != rank) {
            throw new IllegalArgumentException("gemm: A, B and C must be all 2-D or all 3-D ([batch, rows, columns]), "
                    + "got A " + a.shape() + ", B " + b.shape() + ", C " + c.shape());
        }
        int batch = rank == 3 ? toInt(op, "batch", a.shape().dim(0)) : 1;
        if (rank == 3 && (b.shape().dim(0) != batch || c.shape().dim(0) != batch)) {
            throw new IllegalArgumentException("gemm: A, B and C must have one batch size, got A " + a.shape()
                    + ", B " + b.shape() + ", C " + c.shape());
        }
        int aRows = toInt(op, "A rows", a.shape().dim(-2));
        int aCols = toInt(op, "A columns", a.shape().dim(-1));
        int bRows = toInt(op, "B rows", b.shape().dim(-2));
        int bCols = toInt(op, "B columns", b.shape().dim(-1));
        int m = opA.isTransposed() ? aCols : aRows;
        int k = opA.isTransposed() ? aRows : aCols;
        int kb = opB.isTransposed() ? bCols : bRows;
        int n = opB.isTransposed() ? bRows : bCols;
        if (k != kb) {
            throw new IllegalArgumentException("gemm: op(A) is [" + m + ", " + k + "] but op(B) is [" + kb + ", " + n
                    + "]: the inner sizes must agree (A " + a.shape() + " " + opA + ", B " + b.shape() + " " + opB
                    + ")");
        }
        Shape expectedC = rank == 3 ? Shape.of(batch, m, n) : Shape.of(m, n);
        if (!c.shape().equals(expectedC)) {
            throw new IllegalArgumentException("gemm: C " + quoted(c) + " must be " + expectedC + " (op(A) [" + m + ", "
                    + k + "] times op(B) [" + k + ", " + n + "]), got " + c.shape());
        }
        disjoint(op, "C", c, "A", a, "B", b);
        return new GemmDims(batch, m, n, k, opA, opB);
    }

    /** {@link Backend#addBias}: {@code out [N, C]} (any leading dimensions) and {@code bias [C]}, fp32. */
    public static RowDims addBias(Device device, Tensor out, Tensor bias) {
        String op = "addBias";
        on(device, op, "out", out, "bias", bias);
        RowDims r = rows(op, "out", out);
        expect(op, "bias", bias, FP32, Shape.of(r.columns()));
        disjoint(op, "out", out, "bias", bias);
        return r;
    }

    /** {@link Backend#biasBackward}: {@code dout [N, C]} (any leading dimensions) and {@code dbias [C]}, fp32. */
    public static RowDims biasBackward(Device device, Tensor dout, Tensor dbias) {
        String op = "biasBackward";
        on(device, op, "dout", dout, "dbias", dbias);
        RowDims r = rows(op, "dout", dout);
        expect(op, "dbias", dbias, FP32, Shape.of(r.columns()));
        disjoint(op, "dbias", dbias, "dout", dout);
        return r;
    }

    /** {@link Backend#add}: fp32 tensors of one shape; {@code out} may be {@code a} or {@code b}. Returns numel. */
    public static long add(Device device, Tensor a, Tensor b, Tensor out) {
        String op = "add";
        on(device, op, "a", a, "b", b, "out", out);
        expectDtype(op, "a", a, FP32);
        expect(op, "b", b, FP32, a.shape());
        expect(op, "out", out, FP32, a.shape());
        disjointUnlessSame(op, "out", out, "a", a);
        disjointUnlessSame(op, "out", out, "b", b);
        return a.numel();
    }

    /** {@link Backend#scale}: an fp32 tensor. Returns numel. */
    public static long scale(Device device, Tensor x) {
        on(device, "scale", "x", x);
        expectDtype("scale", "x", x, FP32);
        return x.numel();
    }

    /** {@link Backend#gelu}: fp32 tensors of one shape; {@code out} may be {@code in}. Returns numel. */
    public static long gelu(Device device, Tensor in, Tensor out) {
        String op = "gelu";
        on(device, op, "in", in, "out", out);
        expectDtype(op, "in", in, FP32);
        expect(op, "out", out, FP32, in.shape());
        disjointUnlessSame(op, "out", out, "in", in);
        return in.numel();
    }

    /** {@link Backend#geluBackward}: fp32 tensors of one shape; {@code din} overlaps neither input. Returns numel. */
    public static long geluBackward(Device device, Tensor in, Tensor dout, Tensor din) {
        String op = "geluBackward";
        on(device, op, "in", in, "dout", dout, "din", din);
        expectDtype(op, "in", in, FP32);
        expect(op, "dout", dout, FP32, in.shape());
        expect(op, "din", din, FP32, in.shape());
        disjoint(op, "din", din, "in", in, "dout", dout);
        return in.numel();
    }

    /**
     * {@link Backend#layerNorm}: {@code in} and {@code out} fp32 {@code [N, C]} (any leading dimensions),
     * {@code weight} and {@code bias [C]}, {@code mean} and {@code rstd [N]}, {@code eps > 0}; the three outputs
     * overlap nothing.
     */
    public static RowDims layerNorm(Device device, Tensor in, Tensor weight, Tensor bias, float eps, Tensor out,
                                    Tensor mean, Tensor rstd) {
        String op = "layerNorm";
        on(device, op, "in", in, "weight", weight, "bias", bias, "out", out, "mean", mean, "rstd", rstd);
        if (!(eps > 0) || !Float.isFinite(eps)) {
            throw new IllegalArgumentException("layerNorm: eps must be finite and > 0, got " + eps);
        }
        RowDims r = rows(op, "in", in);
        expect(op, "weight", weight, FP32, Shape.of(r.columns()));
        expect(op, "bias", bias, FP32, Shape.of(r.columns()));
        expect(op, "out", out, FP32, in.shape());
        expectPerRow(op, "mean", mean, FP32, in, r);
        expectPerRow(op, "rstd", rstd, FP32, in, r);
        disjoint(op, "out", out, "in", in, "weight", weight, "bias", bias, "mean", mean, "rstd", rstd);
        disjoint(op, "mean", mean, "in", in, "weight", weight, "bias", bias, "rstd", rstd);
        disjoint(op, "rstd", rstd, "in", in, "weight", weight, "bias", bias);
        return r;
    }

    /**
     * {@link Backend#layerNormBackward}: {@code dout}, {@code in} and {@code din} fp32 {@code [N, C]},
     * {@code weight}, {@code dweight}, {@code dbias [C]}, {@code mean} and {@code rstd [N]}; the three outputs
     * overlap nothing.
     */
    public static RowDims layerNormBackward(Device device, Tensor dout, Tensor in, Tensor weight, Tensor mean,
                                            Tensor rstd, Tensor din, Tensor dweight, Tensor dbias) {
        String op = "layerNormBackward";
        on(device, op, "dout", dout, "in", in, "weight", weight, "mean", mean, "rstd", rstd, "din", din,
                "dweight", dweight, "dbias", dbias);
        RowDims r = rows(op, "in", in);
        expect(op, "dout", dout, FP32, in.shape());
        expect(op, "weight", weight, FP32, Shape.of(r.columns()));
        expectPerRow(op, "mean", mean, FP32, in, r);
        expectPerRow(op, "rstd", rstd, FP32, in, r);
        expect(op, "din", din, FP32, in.shape());
        expect(op, "dweight", dweight, FP32, Shape.of(r.columns()));
        expect(op, "dbias", dbias, FP32, Shape.of(r.columns()));
        Object[] inputs = {"dout", dout, "in", in, "weight", weight, "mean", mean, "rstd", rstd};
        disjoint(op, "din", din, concat(inputs, "dweight", dweight, "dbias", dbias));
        disjoint(op, "dweight", dweight, concat(inputs, "dbias", dbias));
        disjoint(op, "dbias", dbias, inputs);
        return r;
    }

    /**
     * {@link Backend#rmsNorm}: {@code in} and {@code out} fp32 {@code [N, C]} (any leading dimensions),
     * {@code weight [C]}, {@code rstd [N]}, {@code eps > 0}; the outputs overlap nothing.
     */
    public static RowDims rmsNorm(Device device, Tensor in, Tensor weight, float eps, Tensor out, Tensor rstd) {
        String op = "rmsNorm";
        on(device, op, "in", in, "weight", weight, "out", out, "rstd", rstd);
        if (!(eps > 0) || !Float.isFinite(eps)) {
            throw new IllegalArgumentException("rmsNorm: eps must be finite and > 0, got " + eps);
        }
        RowDims r = rows(op, "in", in);
        expect(op, "weight", weight, FP32, Shape.of(r.columns()));
        expect(op, "out", out, FP32, in.shape());
        expectPerRow(op, "rstd", rstd, FP32, in, r);
        disjoint(op, "out", out, "in", in, "weight", weight, "rstd", rstd);
        disjoint(op, "rstd", rstd, "in", in, "weight", weight);
        return r;
    }

    /**
     * {@link Backend#rmsNormBackward}: {@code dout}, {@code in} and {@code din} fp32 {@code [N, C]}, {@code weight}
     * and {@code dweight [C]}, {@code rstd [N]}; the outputs overlap nothing.
     */
    public static RowDims rmsNormBackward(Device device, Tensor dout, Tensor in, Tensor weight, Tensor rstd,
                                          Tensor din, Tensor dweight) {
        String op = "rmsNormBackward";
        on(device, op, "dout", dout, "in", in, "weight", weight, "rstd", rstd, "din", din, "dweight", dweight);
        RowDims r = rows(op, "in", in);
        expect(op, "dout", dout, FP32, in.shape());
        expect(op, "weight", weight, FP32, Shape.of(r.columns()));
        expectPerRow(op, "rstd", rstd, FP32, in, r);
        expect(op, "din", din, FP32, in.shape());
        expect(op, "dweight", dweight, FP32, Shape.of(r.columns()));
        Object[] inputs = {"dout", dout, "in", in, "weight", weight, "rstd", rstd};
        disjoint(op, "din", din, concat(inputs, "dweight", dweight));
        disjoint(op, "dweight", dweight, inputs);
        return r;
    }

    /** The sizes of a rotary embedding: batch, positions, row width {@code W}, rotated heads of size {@code hs}. */
    public record RotaryDims(int batch, int seqLen, int width, int heads, int headSize) {
    }

    /**
     * {@link Backend#rotary}: {@code x} and {@code out} fp32 {@code [B, T, W]}, equal or not overlapping;
     * {@code cos} and {@code sin} fp32 {@code [T', hs/2]} with {@code T ≤ T'}; {@code heads·hs ≤ W}.
     */
    public static RotaryDims rotary(Device device, Tensor x, int heads, Tensor cos, Tensor sin, Tensor out) {
        String op = "rotary";
        on(device, op, "x", x, "cos", cos, "sin", sin, "out", out);
        expectDtype(op, "x", x, FP32);
        if (x.shape().rank() != 3) {
            throw new IllegalArgumentException("rotary: x " + quoted(x) + " must be fp32 [B, T, W], got " + typed(x));
        }
        expectDtype(op, "cos", cos, FP32);
        if (cos.shape().rank() != 2) {
            throw new IllegalArgumentException("rotary: cos " + quoted(cos) + " must be fp32 [positions, hs/2], got "
                    + typed(cos));
        }
        expect(op, "sin", sin, FP32, cos.shape());
        int b = toInt(op, "B", x.shape().dim(0));
        int t = toInt(op, "T", x.shape().dim(1));
        int w = toInt(op, "W", x.shape().dim(2));
        int hs = toInt(op, "hs", 2 * cos.shape().dim(1));
        if (t > cos.shape().dim(0)) {
            throw new IllegalArgumentException("rotary: x " + quoted(x) + " has " + t + " positions, more than the "
                    + cos.shape().dim(0) + " of the tables");
        }
        if (heads < 1 || (long) heads * hs > w) {
            throw new IllegalArgumentException("rotary: heads=" + heads + " of size " + hs + " must be >= 1 and fit a "
                    + "row of " + w + " (x " + x.shape() + ")");
        }
        expect(op, "out", out, FP32, x.shape());
        disjointUnlessSame(op, "out", out, "x", x);
        disjoint(op, "out", out, "cos", cos, "sin", sin);
        return new RotaryDims(b, t, w, heads, hs);
    }

    /**
     * {@link Backend#swiglu}: {@code gateUp} fp32 {@code [N, 2F]} and {@code out [N, F]} (any leading dimensions),
     * not overlapping. Returns {@code (N, F)}.
     */
    public static RowDims swiglu(Device device, Tensor gateUp, Tensor out) {
        String op = "swiglu";
        on(device, op, "gateUp", gateUp, "out", out);
        RowDims r = gluRows(op, gateUp);
        expect(op, "out", out, FP32, withLast(gateUp.shape(), r.columns()));
        disjoint(op, "out", out, "gateUp", gateUp);
        return r;
    }

    /** {@link Backend#swigluBackward}: as {@link #swiglu}, with {@code dout [N, F]} and {@code dgateUp} like gateUp. */
    public static RowDims swigluBackward(Device device, Tensor gateUp, Tensor dout, Tensor dgateUp) {
        String op = "swigluBackward";
        on(device, op, "gateUp", gateUp, "dout", dout, "dgateUp", dgateUp);
        RowDims r = gluRows(op, gateUp);
        expect(op, "dout", dout, FP32, withLast(gateUp.shape(), r.columns()));
        expect(op, "dgateUp", dgateUp, FP32, gateUp.shape());
        disjoint(op, "dgateUp", dgateUp, "gateUp", gateUp, "dout", dout);
        return r;
    }

    private static Shape withLast(Shape shape, long last) {
        long[] dims = shape.dims();
        dims[dims.length - 1] = last;
        return Shape.of(dims);
    }

    private static RowDims gluRows(String op, Tensor gateUp) {
        RowDims r = rows(op, "gateUp", gateUp);
        if (r.columns() % 2 != 0) {
            throw new IllegalArgumentException(op + ": gateUp " + quoted(gateUp) + " must be fp32 [N, 2F] (the gate, "
                    + "then the up projection), got an odd last dimension: " + typed(gateUp));
        }
        return new RowDims(r.rows(), r.columns() / 2);
    }

    /** {@link Backend#softmax}: {@code in} and {@code out} fp32 {@code [N, V]}, not overlapping. */
    public static RowDims softmax(Device device, Tensor in, Tensor out) {
        String op = "softmax";
        on(device, op, "in", in, "out", out);
        RowDims r = rows(op, "in", in);
        expect(op, "out", out, FP32, in.shape());
        disjoint(op, "out", out, "in", in);
        return r;
    }

    /**
     * {@link Backend#attention}: {@code qkv} fp32 {@code [B, T, 3C]}, {@code numHeads} dividing {@code C},
     * {@code out [B, T, C]}, {@code att [B, NH, T, T]}; the outputs overlap nothing.
     */
    public static AttentionDims attention(Device device, Tensor qkv, int numHeads, Tensor out, Tensor att) {
        return attention(device, qkv, numHeads, numHeads, out, att);
    }

    /**
     * {@link Backend#attention(Tensor, int, int, Tensor, Tensor)}: {@code qkv} fp32 {@code [B, T, (NH + 2·NKV)·hs]}
     * with {@code NKV} dividing {@code NH}, {@code out [B, T, NH·hs]}, {@code att [B, NH, T, T]}; the outputs overlap
     * nothing.
     */
    public static AttentionDims attention(Device device, Tensor qkv, int numHeads, int numKvHeads, Tensor out,
                                          Tensor att) {
        String op = "attention";
        on(device, op, "qkv", qkv, "out", out, "att", att);
        AttentionDims d = attentionDims(op, qkv, numHeads, numKvHeads);
        expect(op, "out", out, FP32, Shape.of(d.batch(), d.seqLen(), d.channels()));
        expect(op, "att", att, FP32, Shape.of(d.batch(), d.numHeads(), d.seqLen(), d.seqLen()));
        disjoint(op, "out", out, "qkv", qkv, "att", att);
        disjoint(op, "att", att, "qkv", qkv);
        return d;
    }

    /**
     * {@link Backend#attentionBackward}: as {@link #attention}, with {@code dout [B, T, C]} and {@code dqkv} like
     * {@code qkv}, overlapping nothing.
     */
    public static AttentionDims attentionBackward(Device device, Tensor dout, Tensor qkv, Tensor att, int numHeads,
                                                  Tensor dqkv) {
        return attentionBackward(device, dout, qkv, att, numHeads, numHeads, dqkv);
    }

    /** The grouped-query {@link #attentionBackward}: as {@link #attention(Device, Tensor, int, int, Tensor, Tensor)}. */
    public static AttentionDims attentionBackward(Device device, Tensor dout, Tensor qkv, Tensor att, int numHeads,
                                                  int numKvHeads, Tensor dqkv) {
        String op = "attentionBackward";
        on(device, op, "dout", dout, "qkv", qkv, "att", att, "dqkv", dqkv);
        AttentionDims d = attentionDims(op, qkv, numHeads, numKvHeads);
        expect(op, "dout", dout, FP32, Shape.of(d.batch(), d.seqLen(), d.channels()));
        expect(op, "att", att, FP32, Shape.of(d.batch(), d.numHeads(), d.seqLen(), d.seqLen()));
        expect(op, "dqkv", dqkv, FP32, qkv.shape());
        disjoint(op, "dqkv", dqkv, "dout", dout, "qkv", qkv, "att", att);
        return d;
    }

    /**
     * {@link Backend#embedding}: {@code tokens} int32 {@code [B, T]}, {@code wte} fp32 {@code [V, C]}, {@code wpe}
     * fp32 {@code [maxT, C]} with {@code T ≤ maxT}, {@code out} fp32 {@code [B, T, C]} overlapping nothing. Token
     * values are not read here.
     */
    public static EmbeddingDims embedding(Device device, Tensor tokens, Tensor wte, Tensor wpe, Tensor out) {
        String op = "embedding";
        on(device, op, "tokens", tokens, "wte", wte, "wpe", wpe, "out", out);
        EmbeddingDims e = embeddingDims(op, tokens, "wte", wte, "wpe", wpe);
        expect(op, "out", out, FP32, Shape.of(e.batch(), e.seqLen(), e.channels()));
        disjoint(op, "out", out, "tokens", tokens, "wte", wte, "wpe", wpe);
        return e;
    }

    /**
     * {@link Backend#embeddingBackward}: as {@link #embedding} with {@code dwte}, {@code dwpe} for the tables and
     * {@code dout [B, T, C]}; the two outputs overlap nothing.
     */
    public static EmbeddingDims embeddingBackward(Device device, Tensor dout, Tensor tokens, Tensor dwte,
                                                  Tensor dwpe) {
        String op = "embeddingBackward";
        on(device, op, "dout", dout, "tokens", tokens, "dwte", dwte, "dwpe", dwpe);
        EmbeddingDims e = embeddingDims(op, tokens, "dwte", dwte, "dwpe", dwpe);
        expect(op, "dout", dout, FP32, Shape.of(e.batch(), e.seqLen(), e.channels()));
        disjoint(op, "dwte", dwte, "dout", dout, "tokens", tokens, "dwpe", dwpe);
        disjoint(op, "dwpe", dwpe, "dout", dout, "tokens", tokens);
        return e;
    }

    /**
     * {@link Backend#crossEntropy}: {@code logits} fp32 {@code [N, V]} (any leading dimensions), {@code targets}
     * int32 and {@code losses} fp32 {@code [N]}, {@code dlogits} like {@code logits} and either {@code logits} itself
     * or apart from it; {@code losses} overlaps nothing. Target values are not read here.
     */
    public static RowDims crossEntropy(Device device, Tensor logits, Tensor targets, Tensor losses, Tensor dlogits) {
        String op = "crossEntropy";
        on(device, op, "logits", logits, "targets", targets, "losses", losses, "dlogits", dlogits);
        RowDims r = rows(op, "logits", logits);
        expectPerRow(op, "targets", targets, INT32, logits, r);
        expectPerRow(op, "losses", losses, FP32, logits, r);
        expect(op, "dlogits", dlogits, FP32, logits.shape());
        disjointUnlessSame(op, "dlogits", dlogits, "logits", logits);
        disjoint(op, "dlogits", dlogits, "targets", targets);
        disjoint(op, "losses", losses, "logits", logits, "targets", targets, "dlogits", dlogits);
        return r;
    }

    /** {@link Backend#adamW}: four fp32 tensors of one shape, pairwise apart, and a step. Returns numel. */
    public static long adamW(Device device, Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step) {
        String op = "adamW";
        on(device, op, "param", param, "grad", grad, "m", m, "v", v);
        Objects.requireNonNull(step, "adamW: step must not be null");
        expectDtype(op, "param", param, FP32);
        expect(op, "grad", grad, FP32, param.shape());
        expect(op, "m", m, FP32, param.shape());
        expect(op, "v", v, FP32, param.shape());
        disjoint(op, "param", param, "grad", grad, "m", m, "v", v);
        disjoint(op, "m", m, "grad", grad, "v", v);
        disjoint(op, "v", v, "grad", grad);
        return param.numel();
    }

    /** A scale factor of {@code op} (e.g. {@link Backend#adamW}'s {@code gradScale}): finite. */
    public static void finiteScale(String op, float scale) {
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException(op + ": the gradient scale must be finite, got " + scale);
        }
    }

    /** {@link Backend#cast}: fp32, bf16 or fp16 tensors of one shape, apart. Returns numel. */
    public static long cast(Device device, Tensor src, Tensor dst) {
        String op = "cast";
        on(device, op, "src", src, "dst", dst);
        for (Tensor t : new Tensor[]{src, dst}) {
            if (!t.dtype().isFloatingPoint()) {
                String arg = t == src ? "src" : "dst";
                throw new IllegalArgumentException("cast: " + arg + " " + quoted(t)
                        + " must be fp32, bf16 or fp16, got " + typed(t));
            }
        }
        if (!dst.shape().equals(src.shape())) {
            throw new IllegalArgumentException("cast: dst " + quoted(dst) + " must be " + src.shape()
                    + " (the shape of src), got " + dst.shape());
        }
        disjoint(op, "dst", dst, "src", src);
        return src.numel();
    }

    /** {@link Backend#scaleAndCheckFinite}: {@code x} fp32, {@code flag} an int32 scalar ({@code []} or {@code [1]}). */
    public static long scaleAndCheckFinite(Device device, Tensor x, Tensor flag) {
        String op = "scaleAndCheckFinite";
        on(device, op, "x", x, "flag", flag);
        expectDtype(op, "x", x, FP32);
        expectScalar(op, "flag", flag, INT32);
        disjoint(op, "flag", flag, "x", x);
        return x.numel();
    }

    /** {@link Backend#sumOfSquares}: {@code x} fp32, {@code out} an fp32 scalar ({@code []} or {@code [1]}). */
    public static long sumOfSquares(Device device, Tensor x, Tensor out) {
        String op = "sumOfSquares";
        on(device, op, "x", x, "out", out);
        expectDtype(op, "x", x, FP32);
        expectScalar(op, "out", out, FP32);
        disjoint(op, "out", out, "x", x);
        return x.numel();
    }

    private static AttentionDims attentionDims(String op, Tensor qkv, int numHeads, int numKvHeads) {
        if (numKvHeads == numHeads) {
            return attentionDims(op, qkv, numHeads);
        }
        expectDtype(op, "qkv", qkv, FP32);
        if (numHeads <= 0 || numKvHeads <= 0 || numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException(op + ": numKvHeads=" + numKvHeads + " must be > 0 and divide numHeads="
                    + numHeads + " (each key/value head serves a group of query heads)");
        }
        long width = numHeads + 2L * numKvHeads;
        if (qkv.shape().rank() != 3 || qkv.shape().dim(2) % width != 0) {
            throw new IllegalArgumentException(op + ": qkv " + quoted(qkv) + " must be fp32 [B, T, (NH + 2·NKV)·hs] = "
                    + "[B, T, " + width + "·hs] for NH=" + numHeads + ", NKV=" + numKvHeads + ", got " + typed(qkv));
        }
        int b = toInt(op, "B", qkv.shape().dim(0));
        int t = toInt(op, "T", qkv.shape().dim(1));
        toInt(op, "(NH + 2·NKV)·hs", qkv.shape().dim(2));
        toInt(op, "B·NH", (long) b * numHeads);
        return new AttentionDims(b, t, numHeads, (int) (qkv.shape().dim(2) / width), numKvHeads);
    }

    private static AttentionDims attentionDims(String op, Tensor qkv, int numHeads) {
        expectDtype(op, "qkv", qkv, FP32);
        if (qkv.shape().rank() != 3 || qkv.shape().dim(2) % 3 != 0) {
            throw new IllegalArgumentException(op + ": qkv " + quoted(qkv) + " must be fp32 [B, T, 3C], got "
                    + typed(qkv));
        }
        long c = qkv.shape().dim(2) / 3;
        if (numHeads <= 0 || c % numHeads != 0) {
            throw new IllegalArgumentException(op + ": numHeads=" + numHeads + " must be > 0 and divide C=" + c
                    + " (qkv " + qkv.shape() + ")");
        }
        int b = toInt(op, "B", qkv.shape().dim(0));
        int t = toInt(op, "T", qkv.shape().dim(1));
        toInt(op, "3C", qkv.shape().dim(2));
        toInt(op, "B·NH", (long) b * numHeads);
        return new AttentionDims(b, t, numHeads, (int) (c / numHeads));
    }

    private static EmbeddingDims embeddingDims(String op, Tensor tokens, String wteArg, Tensor wte, String wpeArg,
                                               Tensor wpe) {
        expectDtype(op, "tokens", tokens, INT32);
        if (tokens.shape().rank() != 2) {
            throw new IllegalArgumentException(op + ": tokens " + quoted(tokens) + " must be int32 [B, T], got "
                    + typed(tokens));
        }
        expectDtype(op, wteArg, wte, FP32);
        if (wte.shape().rank() != 2) {
            throw new IllegalArgumentException(op + ": " + wteArg + " " + quoted(wte) + " must be fp32 [V, C], got "
                    + typed(wte));
        }
        int b = toInt(op, "B", tokens.shape().dim(0));
        int t = toInt(op, "T", tokens.shape().dim(1));
        int v = toInt(op, "V", wte.shape().dim(0));
        int c = toInt(op, "C", wte.shape().dim(1));
        expectDtype(op, wpeArg, wpe, FP32);
        if (wpe.shape().rank() != 2 || wpe.shape().dim(1) != c) {
            throw new IllegalArgumentException(op + ": " + wpeArg + " " + quoted(wpe) + " must be fp32 [maxT, " + c
                    + "] (C from " + wteArg + " " + wte.shape() + "), got " + typed(wpe));
        }
        if (wpe.shape().dim(0) < t) {
            throw new IllegalArgumentException(op + ": sequence length T=" + t + " (tokens " + tokens.shape()
                    + ") exceeds maxT=" + wpe.shape().dim(0) + " (" + wpeArg + " " + wpe.shape() + ")");
        }
        return new EmbeddingDims(b, t, c, v);
    }

    /** N = the product of all but the last dimension, C = the last; fp32 and at least 1-D. */
    static RowDims rows(String op, String arg, Tensor t) {
        expectDtype(op, arg, t, FP32);
        long[] dims = t.shape().dims();
        if (dims.length == 0) {
            throw new IllegalArgumentException(op + ": " + arg + " " + quoted(t)
                    + " must be fp32 [N, C] (at least 1-D), got " + typed(t));
        }
        long rows = 1;
        for (int i = 0; i < dims.length - 1; i++) {
            rows *= dims[i];
        }
        return new RowDims(toInt(op, arg + " rows", rows), toInt(op, arg + " columns", dims[dims.length - 1]));
    }

    static void expectPerRow(String op, String arg, Tensor t, DType dtype, Tensor rowsTensor, RowDims r) {
        Shape flat = Shape.of(r.rows());
        long[] dims = rowsTensor.shape().dims();
        Shape leading = Shape.of(Arrays.copyOf(dims, dims.length - 1));
        if (t.dtype() != dtype || !(t.shape().equals(flat) || t.shape().equals(leading))) {
            String alternative = leading.equals(flat) ? "" : " or " + leading;
            throw new IllegalArgumentException(op + ": " + arg + " " + quoted(t) + " must be " + dtype.shortName() + " "
                    + flat + alternative + ", got " + typed(t));
        }
    }

    static void expect(String op, String arg, Tensor t, DType dtype, Shape shape) {
        if (t.dtype() != dtype || !t.shape().equals(shape)) {
            throw new IllegalArgumentException(op + ": " + arg + " " + quoted(t) + " must be " + dtype.shortName() + " "
                    + shape + ", got " + typed(t));
        }
    }

    static void expectDtype(String op, String arg, Tensor t, DType dtype) {
        if (t.dtype() != dtype) {
            throw new IllegalArgumentException(op + ": " + arg + " " + quoted(t) + " must be " + dtype.shortName()
                    + ", got " + typed(t));
        }
    }

    private static void expectScalar(String op, String arg, Tensor t, DType dtype) {
        if (t.dtype() != dtype || t.numel() != 1 || t.shape().rank() > 1) {
            throw new IllegalArgumentException(op + ": " + arg + " " + quoted(t) + " must be a " + dtype.shortName()
                    + " scalar ([] or [1]), got " + typed(t));
        }
    }

    /** Null checks, then the device of every (name, tensor) pair. */
    static void on(Device device, String op, Object... namedTensors) {
        Objects.requireNonNull(device, op + ": device must not be null");
        for (int i = 0; i < namedTensors.length; i += 2) {
            String arg = (String) namedTensors[i];
            Tensor t = Objects.requireNonNull((Tensor) namedTensors[i + 1], op + ": " + arg + " must not be null");
            if (!t.device().equals(device)) {
                throw new IllegalArgumentException(op + ": " + arg + " " + quoted(t) + " must be on " + device
                        + " (the backend's device), got a tensor on " + t.device());
            }
        }
    }

    /** The output {@code (arg, t)} must not share a byte with any of the (name, tensor) pairs. */
    static void disjoint(String op, String arg, Tensor t, Object... namedTensors) {
        for (int i = 0; i < namedTensors.length; i += 2) {
            Tensor other = (Tensor) namedTensors[i + 1];
            if (overlap(t, other)) {
                throw new IllegalArgumentException(op + ": " + arg + " " + quoted(t) + " overlaps "
                        + namedTensors[i] + " " + quoted(other) + " in memory; pass a separate output tensor");
            }
        }
    }

    /** The output may be exactly the input (same memory, dtype and shape) but must not partly overlap it. */
    static void disjointUnlessSame(String op, String arg, Tensor t, String otherArg, Tensor other) {
        boolean same = t.storage() == other.storage() && t.byteOffset() == other.byteOffset()
                && t.dtype() == other.dtype() && t.shape().equals(other.shape());
        if (!same && overlap(t, other)) {
            throw new IllegalArgumentException(op + ": " + arg + " " + quoted(t) + " partly overlaps " + otherArg + " "
                    + quoted(other) + "; it may be " + otherArg + " itself or apart from it");
        }
    }

    private static boolean overlap(Tensor x, Tensor y) {
        return x.storage() == y.storage() && x.byteSize() > 0 && y.byteSize() > 0
                && x.byteOffset() < y.byteOffset() + y.byteSize() && y.byteOffset() < x.byteOffset() + x.byteSize();
    }

    private static Object[] concat(Object[] first, Object... rest) {
        Object[] all = Arrays.copyOf(first, first.length + rest.length);
        System.arraycopy(rest, 0, all, first.length, rest.length);
        return all;
    }

    private static boolean isGemmInput(DType dtype) {
        return dtype == DType.FP32 || dtype == DType.BF16 || dtype == DType.FP16;
    }

    static int toInt(String op, String what, long value) {
        if (value > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": " + what + " = " + value + " exceeds 2^31-1, the largest size "
                    + "a kernel indexes with");
        }
        return (int) value;
    }

    static String quoted(Tensor t) {
        return "('" + t.name() + "')";
    }

    static String typed(Tensor t) {
        return t.dtype().shortName() + " " + t.shape();
    }
}
