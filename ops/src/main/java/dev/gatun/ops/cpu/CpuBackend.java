package dev.gatun.ops.cpu;

import dev.gatun.memory.Device;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryReport;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.AdamWStep;
import dev.gatun.ops.Backend;
import dev.gatun.ops.GemmDims;
import dev.gatun.ops.GemmSpec;
import dev.gatun.ops.OpChecks;
import dev.gatun.ops.Transpose;
import dev.gatun.ops.VocabChecks;
import dev.gatun.ops.VocabSlice;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;
import java.util.concurrent.ForkJoinPool;

/**
 * The {@link Backend} on the CPU, in pure Java on the tensors' host memory: hot loops vectorised with the Vector API
 * ({@code FloatVector.SPECIES_PREFERRED}), large inputs split into tasks on a {@link ForkJoinPool}, small ones run on
 * the calling thread. Every operation is complete when it returns.
 *
 * <p>Results are deterministic: how an input is split into tasks depends only on its sizes, and every reduction
 * (LayerNorm statistics, softmax and cross-entropy sums, bias and LayerNorm parameter gradients, the sum of squares)
 * adds in a fixed order, with fp32 lane partials over short runs combined in double, so the same inputs give the same
 * bits whatever the pool's size or timing (on one machine: the vector length is the hardware's).
 *
 * <p>Arguments are checked by {@link OpChecks} before anything is touched. Beyond them, token ids
 * ({@link #embedding}, {@link #embeddingBackward}) and targets ({@link #crossEntropy}) are read and must be in
 * {@code [0, V)}: the first one outside is named in an {@link IllegalArgumentException}. Attention's per-head scratch
 * comes from the backend's own workspace allocator, freed before each call returns; {@link #close()} checks that
 * none is left. The pool is the caller's and is not shut down.
 */
public final class CpuBackend implements Backend {
    private final Parallel parallel;
    private final DeviceStream stream = DeviceStream.cpu();
    private final HostAllocator workspace = HostAllocator.caching();
    private final CpuGemm gemm;
    private final ElementwiseKernels elementwise;
    private final RowKernels rows;
    private final EmbeddingKernels embeddings;
    private final VocabKernels vocab;
    private final AttentionKernels attention;
    private final RotaryKernel rotary;
    private final Casts casts;
    private volatile boolean closed;

    /** A backend running its tasks on {@code pool} (which stays the caller's to shut down). */
    public CpuBackend(ForkJoinPool pool) {
        this.parallel = new Parallel(Objects.requireNonNull(pool, "pool must not be null"));
        this.gemm = new CpuGemm(pool);
        this.elementwise = new ElementwiseKernels(parallel);
        this.rows = new RowKernels(parallel);
        this.embeddings = new EmbeddingKernels(parallel);
        this.vocab = new VocabKernels(parallel);
        this.attention = new AttentionKernels(this, rows, parallel, workspace);
        this.rotary = new RotaryKernel(parallel);
        this.casts = new Casts(parallel);
    }

    /** A backend running its tasks on {@link ForkJoinPool#commonPool()}. */
    public CpuBackend() {
        this(ForkJoinPool.commonPool());
    }

    /** {@link Device#CPU}. */
    @Override
    public Device device() {
        return Device.CPU;
    }

    /** A CPU stream: work is done when the call returns. */
    @Override
    public DeviceStream stream() {
        return stream;
    }

    /** The pool tasks run on. */
    public ForkJoinPool pool() {
        return parallel.pool();
    }

    @Override
    public void gemm(Tensor a, Transpose opA, Tensor b, Transpose opB, Tensor c, float alpha, float beta) {
        GemmDims d = OpChecks.gemm(device(), a, opA, b, opB, c);
        open();
        GemmSpec spec = GemmSpec.of(opA, opB, d.m(), d.n(), d.k(), a.dtype(), c.dtype()).withScale(alpha, beta)
                .withBatchCount(d.batch());
        gemm.gemm(spec, a.hostSegment(), b.hostSegment(), c.hostSegment());
    }

    @Override
    public void addBias(Tensor out, Tensor bias) {
        OpChecks.RowDims r = OpChecks.addBias(device(), out, bias);
        open();
        elementwise.addBias(out.hostSegment(), bias.hostSegment(), r.rows(), r.columns());
    }

    @Override
    public void biasBackward(Tensor dout, Tensor dbias) {
        OpChecks.RowDims r = OpChecks.biasBackward(device(), dout, dbias);
        open();
        elementwise.biasBackward(dout.hostSegment(), dbias.hostSegment(), r.rows(), r.columns());
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        long n = OpChecks.add(device(), a, b, out);
        open();
        elementwise.add(a.hostSegment(), b.hostSegment(), out.hostSegment(), n);
    }

    @Override
    public void scale(Tensor x, float s) {
        long n = OpChecks.scale(device(), x);
        open();
        elementwise.scale(x.hostSegment(), s, n);
    }

    @Override
    public void gelu(Tensor in, Tensor out) {
        long n = OpChecks.gelu(device(), in, out);
        open();
        elementwise.gelu(in.hostSegment(), out.hostSegment(), n);
    }

    @Override
    public void geluBackward(Tensor in, Tensor dout, Tensor din) {
        long n = OpChecks.geluBackward(device(), in, dout, din);
        open();
        elementwise.geluBackward(in.hostSegment(), dout.hostSegment(), din.hostSegment(), n);
    }

    @Override
    public void layerNorm(Tensor in, Tensor weight, Tensor bias, float eps, Tensor out, Tensor mean, Tensor rstd) {
        OpChecks.RowDims r = OpChecks.layerNorm(device(), in, weight, bias, eps, out, mean, rstd);
        open();
        rows.layerNorm(in.hostSegment(), weight.hostSegment(), bias.hostSegment(), eps, out.hostSegment(),
                mean.hostSegment(), rstd.hostSegment(), r.rows(), r.columns());
    }

    @Override
    public void layerNormBackward(Tensor dout, Tensor in, Tensor weight, Tensor mean, Tensor rstd, Tensor din,
                                  Tensor dweight, Tensor dbias) {
        OpChecks.RowDims r = OpChecks.layerNormBackward(device(), dout, in, weight, mean, rstd, din, dweight, dbias);
        open();
        rows.layerNormBackward(dout.hostSegment(), in.hostSegment(), weight.hostSegment(), mean.hostSegment(),
                rstd.hostSegment(), din.hostSegment(), dweight.hostSegment(), dbias.hostSegment(), r.rows(),
                r.columns());
    }

    @Override
    public void softmax(Tensor in, Tensor out) {
        OpChecks.RowDims r = OpChecks.softmax(device(), in, out);
        open();
        rows.softmax(in.hostSegment(), out.hostSegment(), r.rows(), r.columns());
    }

    @Override
    public void attention(Tensor qkv, int numHeads, int numKvHeads, Tensor out, Tensor att) {
        OpChecks.AttentionDims d = OpChecks.attention(device(), qkv, numHeads, numKvHeads, out, att);
        open();
        attention.forward(qkv, d, out, att);
    }

    @Override
    public void attentionBackward(Tensor dout, Tensor qkv, Tensor att, int numHeads, int numKvHeads, Tensor dqkv) {
        OpChecks.AttentionDims d = OpChecks.attentionBackward(device(), dout, qkv, att, numHeads, numKvHeads, dqkv);
        open();
        attention.backward(dout, qkv, att, d, dqkv);
    }

    @Override
    public void rmsNorm(Tensor in, Tensor weight, float eps, Tensor out, Tensor rstd) {
        OpChecks.RowDims r = OpChecks.rmsNorm(device(), in, weight, eps, out, rstd);
        open();
        rows.rmsNorm(in.hostSegment(), weight.hostSegment(), eps, out.hostSegment(), rstd.hostSegment(), r.rows(),
                r.columns());
    }

    @Override
    public void rmsNormBackward(Tensor dout, Tensor in, Tensor weight, Tensor rstd, Tensor din, Tensor dweight) {
        OpChecks.RowDims r = OpChecks.rmsNormBackward(device(), dout, in, weight, rstd, din, dweight);
        open();
        rows.rmsNormBackward(dout.hostSegment(), in.hostSegment(), weight.hostSegment(), rstd.hostSegment(),
                din.hostSegment(), dweight.hostSegment(), r.rows(), r.columns());
    }

    @Override
    public void rotary(Tensor x, int heads, Tensor cos, Tensor sin, boolean inverse, Tensor out) {
        OpChecks.RotaryDims d = OpChecks.rotary(device(), x, heads, cos, sin, out);
        open();
        rotary.rotary(x.hostSegment(), cos.hostSegment(), sin.hostSegment(), inverse, out.hostSegment(), d,
                x.storage() == out.storage() && x.byteOffset() == out.byteOffset());
    }

    @Override
    public void swiglu(Tensor gateUp, Tensor out) {
        OpChecks.RowDims r = OpChecks.swiglu(device(), gateUp, out);
        open();
        elementwise.swiglu(gateUp.hostSegment(), out.hostSegment(), r.rows(), r.columns());
    }

    @Override
    public void swigluBackward(Tensor gateUp, Tensor dout, Tensor dgateUp) {
        OpChecks.RowDims r = OpChecks.swigluBackward(device(), gateUp, dout, dgateUp);
        open();
        elementwise.swigluBackward(gateUp.hostSegment(), dout.hostSegment(), dgateUp.hostSegment(), r.rows(),
                r.columns());
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException naming the first token id outside {@code [0, V)} and its {@code [b, t]}
     */
    @Override
    public void embedding(Tensor tokens, Tensor wte, Tensor wpe, Tensor out) {
        OpChecks.EmbeddingDims e = OpChecks.embedding(device(), tokens, wte, wpe, out);
        open();
        checkIds("embedding", "token id", tokens.hostSegment(), tokens.numel(), e.seqLen(),
                e.vocab());
        embeddings.forward(tokens.hostSegment(), wte.hostSegment(), wpe.hostSegment(), out.hostSegment(), e);
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException naming the first token id outside {@code [0, V)} and its {@code [b, t]}
     */
    @Override
    public void embeddingBackward(Tensor dout, Tensor tokens, Tensor dwte, Tensor dwpe) {
        OpChecks.EmbeddingDims e = OpChecks.embeddingBackward(device(), dout, tokens, dwte, dwpe);
        open();
        checkIds("embeddingBackward", "token id", tokens.hostSegment(), tokens.numel(), e.seqLen(),
                e.vocab());
        embeddings.backward(dout.hostSegment(), tokens.hostSegment(), dwte.hostSegment(), dwpe.hostSegment(), e);
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException naming the first target outside {@code [0, V)} and its row
     */
    @Override
    public void crossEntropy(Tensor logits, Tensor targets, float dlossScale, Tensor losses, Tensor dlogits) {
        OpChecks.RowDims r = OpChecks.crossEntropy(device(), logits, targets, losses, dlogits);
        open();
        checkIds("crossEntropy", "target", targets.hostSegment(), r.rows(), 0, r.columns());
        rows.crossEntropy(logits.hostSegment(), targets.hostSegment(), dlossScale, losses.hostSegment(),
                dlogits.hostSegment(), r.rows(), r.columns());
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException naming the first token id outside {@code [0, slice.vocab)} and its position
     */
    @Override
    public void vocabEmbedding(Tensor tokens, Tensor wte, VocabSlice slice, Tensor out) {
        VocabChecks.EmbeddingShardDims e = VocabChecks.embedding(device(), tokens, wte, slice, out);
        open();
        checkIds("vocabEmbedding", "token id", tokens.hostSegment(), e.ids(), 0, slice.vocab());
        vocab.embedding(tokens.hostSegment(), wte.hostSegment(), out.hostSegment(), e.ids(), e.channels(), e.rows(),
                slice.offset());
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException naming the first token id outside {@code [0, slice.vocab)} and its position
     */
    @Override
    public void vocabEmbeddingBackward(Tensor dout, Tensor tokens, VocabSlice slice, Tensor dwte) {
        VocabChecks.EmbeddingShardDims e = VocabChecks.embeddingBackward(device(), dout, tokens, slice, dwte);
        open();
        checkIds("vocabEmbeddingBackward", "token id", tokens.hostSegment(), e.ids(), 0, slice.vocab());
        vocab.embeddingBackward(dout.hostSegment(), tokens.hostSegment(), dwte.hostSegment(), e.ids(), e.channels(),
                e.rows(), slice.offset());
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException naming the first target outside {@code [0, slice.vocab)} and its row
     */
    @Override
    public void vocabLogitStats(Tensor logits, Tensor targets, VocabSlice slice, Tensor max, Tensor targetLogit) {
        OpChecks.RowDims r = VocabChecks.logitStats(device(), logits, targets, slice, max, targetLogit);
        open();
        checkIds("vocabLogitStats", "target", targets.hostSegment(), r.rows(), 0, slice.vocab());
        vocab.logitStats(logits.hostSegment(), targets.hostSegment(), max.hostSegment(), targetLogit.hostSegment(),
                r.rows(), r.columns(), slice.offset(), slice.valid(r.columns()));
    }

    @Override
    public void vocabSumExp(Tensor logits, VocabSlice slice, Tensor max, Tensor sumExp) {
        OpChecks.RowDims r = VocabChecks.sumExp(device(), logits, slice, max, sumExp);
        open();
        vocab.sumExp(logits.hostSegment(), max.hostSegment(), sumExp.hostSegment(), r.rows(), r.columns(),
                slice.valid(r.columns()));
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException naming the first target outside {@code [0, slice.vocab)} and its row
     */
    @Override
    public void vocabCrossEntropy(Tensor logits, Tensor targets, VocabSlice slice, Tensor max, Tensor sumExp,
                                  Tensor targetLogit, float dlossScale, Tensor losses, Tensor dlogits) {
        OpChecks.RowDims r = VocabChecks.crossEntropy(device(), logits, targets, slice, max, sumExp, targetLogit,
                losses, dlogits);
        open();
        checkIds("vocabCrossEntropy", "target", targets.hostSegment(), r.rows(), 0, slice.vocab());
        vocab.crossEntropy(logits.hostSegment(), targets.hostSegment(), max.hostSegment(), sumExp.hostSegment(),
                targetLogit.hostSegment(), dlossScale, losses.hostSegment(), dlogits.hostSegment(), r.rows(),
                r.columns(), slice.offset(), slice.valid(r.columns()));
    }

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step) {
        adamW(param, grad, 1f, m, v, step);
    }

    /** {@inheritDoc} Here in one pass: {@code grad} is read, scaled in registers and left as it was. */
    @Override
    public void adamW(Tensor param, Tensor grad, float gradScale, Tensor m, Tensor v, AdamWStep step) {
        long n = OpChecks.adamW(device(), param, grad, m, v, step);
        OpChecks.finiteScale("adamW", gradScale);
        open();
        elementwise.adamW(param.hostSegment(), grad.hostSegment(), gradScale, m.hostSegment(), v.hostSegment(), n,
                step);
    }

    @Override
    public void cast(Tensor src, Tensor dst) {
        long n = OpChecks.cast(device(), src, dst);
        open();
        casts.cast(src.hostSegment(), src.dtype(), dst.hostSegment(), dst.dtype(), n);
    }

    @Override
    public void scaleAndCheckFinite(Tensor x, float s, Tensor flag) {
        long n = OpChecks.scaleAndCheckFinite(device(), x, flag);
        open();
        if (elementwise.scaleAndCheckFinite(x.hostSegment(), s, n)) {
            flag.hostSegment().set(ValueLayout.JAVA_INT, 0, 1);
        }
    }

    @Override
    public void sumOfSquares(Tensor x, Tensor out) {
        long n = OpChecks.sumOfSquares(device(), x, out);
        open();
        double total = elementwise.sumOfSquares(x.hostSegment(), n);
        Lanes.set(out.hostSegment(), 0, (float) (Lanes.get(out.hostSegment(), 0) + total));
    }

    /**
     * The bytes of this backend's own scratch (attention's gathered heads and score gradients), current and peak: it
     * comes from the backend's workspace allocator, not from the caller's, so the caller's accounting leaves it out.
     */
    public MemoryReport workspaceReport() {
        return workspace.accountant().report();
    }

    /**
     * Releases the workspace allocator (the pool stays the caller's); later operations throw. Idempotent.
     *
     * @throws dev.gatun.memory.MemoryLeakException if workspace is still held (a bug here)
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        workspace.close();
    }

    /**
     * Throws naming the first id (in row-major order) outside {@code [0, bound)} and its position ({@code [b, t]}
     * for {@code columns > 0} ids per row, else {@code [i]}): out-of-range ids would read outside the tables.
     */
    private static void checkIds(String op, String what, MemorySegment ids, long count, int columns, long bound) {
        for (long i = 0; i < count; i++) {
            int id = ids.getAtIndex(ValueLayout.JAVA_INT, i);
            if (id < 0 || id >= bound) {
                String position = columns > 0 ? "[" + i / columns + ", " + i % columns + "]" : "[" + i + "]";
                throw new IllegalArgumentException(op + ": " + what + " " + id + " at position " + position
                        + " is outside [0, " + bound + ")");
            }
        }
    }

    private void open() {
        if (closed) {
            throw new IllegalStateException("CpuBackend is closed");
        }
    }

    @Override
    public String toString() {
        return "CpuBackend[pool parallelism " + parallel.pool().getParallelism() + ", " + Lanes.LENGTH
                + " fp32 lanes]";
    }
}
