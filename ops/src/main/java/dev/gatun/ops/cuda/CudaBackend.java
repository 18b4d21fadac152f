package dev.gatun.ops.cuda;

import dev.gatun.bindings.Cublas;
import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.KernelArguments;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.DeviceBuffer;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.AdamWStep;
import dev.gatun.ops.Backend;
import dev.gatun.ops.GemmDims;
import dev.gatun.ops.OpChecks;
import dev.gatun.ops.Transpose;
import dev.gatun.ops.VocabChecks;
import dev.gatun.ops.VocabSlice;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The {@link Backend} on one CUDA device: GEMMs through cuBLAS ({@code cublasGemmEx} /
 * {@code cublasGemmStridedBatchedEx}, default algorithm; tensor-op math for bf16/fp16 inputs, TF32 for fp32 only when
 * {@link CudaBackendOptions#tf32()} allows it), every other operation by a kernel from the CUDA C sources under
 * {@code dev/gatun/ops/cuda/}, compiled at first use by NVRTC for the device (see {@link CudaKernels}) and launched
 * with {@code cuLaunchKernel} on the backend's stream. Scratch memory (attention's per-head layouts, the cuBLAS
 * workspace, reduction partials) comes from the caching allocator on the same stream, so it is reused without
 * synchronisation.
 *
 * <p>Arguments are checked in Java before anything is enqueued. Reductions are deterministic (a fixed order for a
 * given shape, no atomics).
 */
public final class CudaBackend implements Backend {
    private static final int BLOCK = 256;
    private static final long MAX_GRID = 1L << 16;
    private static final int PARTIALS = 512;

    private final CudaStream stream;
    private final CachingDeviceAllocator allocator;
    private final CudaBackendOptions options;
    private final CudaKernels kernels;
    private final MemorySegment cublas;
    private final DeviceBuffer workspace;
    private boolean closed;

    /**
     * A backend that enqueues on {@code stream} and takes scratch memory from {@code allocator} (same device).
     *
     * @throws IllegalArgumentException when the stream and allocator are on different devices
     */
    public CudaBackend(CudaStream stream, CachingDeviceAllocator allocator, CudaBackendOptions options) {
        this.stream = Objects.requireNonNull(stream, "stream must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        this.options = Objects.requireNonNull(options, "options must not be null");
        if (!stream.device().equals(allocator.device())) {
            throw new IllegalArgumentException("stream is on " + stream.device() + " but the allocator on "
                    + allocator.device());
        }
        Cuda.setDevice(stream.device().ordinal());
        this.kernels = new CudaKernels(stream.device(), options.kernelCacheDirectory());
        boolean ok = false;
        MemorySegment handle = Cublas.create();
        DeviceBuffer space = null;
        try {
            Cublas.setStream(handle, stream.handle());
            space = allocator.allocate(MemoryCategory.WORKSPACE, "cublas.workspace", options.workspaceBytes(), stream);
            Cublas.setWorkspace(handle, space.pointer(), options.workspaceBytes());
            Cublas.setMathMode(handle, options.tf32() ? Cublas.MathMode.TF32_TENSOR_OP : Cublas.MathMode.DEFAULT);
            ok = true;
        } finally {
            if (!ok) {
                if (space != null) {
                    space.close();
                }
                Cublas.destroy(handle);
            }
        }
        this.cublas = handle;
        this.workspace = space;
    }

    @Override
    public Device device() {
        return stream.device();
    }

    @Override
    public DeviceStream stream() {
        return stream;
    }

    @Override
    public void gemm(Tensor a, Transpose opA, Tensor b, Transpose opB, Tensor c, float alpha, float beta) {
        GemmDims g = OpChecks.gemm(device(), a, opA, b, opB, c);
        rawGemm(opA, opB, g.m(), g.n(), g.k(), alpha, a.deviceAddress(), g.lda(), g.strideA(), b.deviceAddress(),
                g.ldb(), g.strideB(), beta, c.deviceAddress(), g.strideC(), g.batch(), a.dtype(), c.dtype());
    }

    /**
     * Row-major {@code C[m, n] = alpha·op(A)·op(B) + beta·C} on raw addresses, as cuBLAS's column-major
     * {@code Cᵀ = op(B)ᵀ·op(A)ᵀ}: the operands swap, the transposition flags stay, and each row-major leading
     * dimension (the stored row length) is the column-major one.
     */
    private void rawGemm(Transpose opA, Transpose opB, int m, int n, int k, float alpha, long a, int lda, long strideA,
                         long b, int ldb, long strideB, float beta, long c, long strideC, int batch, DType in,
                         DType out) {
        if (m == 0 || n == 0 || batch == 0) {
            return;
        }
        begin();
        Cublas.ComputeType compute = in == DType.FP32 && options.tf32()
                ? Cublas.ComputeType.FP32_FAST_TF32 : Cublas.ComputeType.FP32;
        if (batch == 1) {
            Cublas.gemmEx(cublas, operation(opB), operation(opA), n, m, k, alpha, MemorySegment.ofAddress(b),
                    dataType(in), ldb, MemorySegment.ofAddress(a), dataType(in), lda, beta,
                    MemorySegment.ofAddress(c), dataType(out), n, compute);
        } else {
            Cublas.gemmStridedBatchedEx(cublas, operation(opB), operation(opA), n, m, k, alpha,
                    MemorySegment.ofAddress(b), dataType(in), ldb, strideB, MemorySegment.ofAddress(a), dataType(in),
                    lda, strideA, beta, MemorySegment.ofAddress(c), dataType(out), n, strideC, batch, compute);
        }
    }

    private static Cublas.Operation operation(Transpose t) {
        return t.isTransposed() ? Cublas.Operation.TRANSPOSE : Cublas.Operation.NONE;
    }

    private static Cublas.DataType dataType(DType dtype) {
        return switch (dtype) {
            case FP32 -> Cublas.DataType.FP32;
            case BF16 -> Cublas.DataType.BF16;
            case FP16 -> Cublas.DataType.FP16;
            default -> throw new IllegalArgumentException("cuBLAS GEMM does not take " + dtype.shortName());
        };
    }

    @Override
    public void addBias(Tensor out, Tensor bias) {
        int channels = OpChecks.addBias(device(), out, bias).columns();
        long n = out.numel();
        launchElements(Kernel.ADD_BIAS, n, args -> args.pointer(ptr(out)).pointer(ptr(bias)).i64(n).i32(channels));
    }

    @Override
    public void biasBackward(Tensor dout, Tensor dbias) {
        OpChecks.RowDims r = OpChecks.biasBackward(device(), dout, dbias);
        int channels = r.columns();
        int rows = r.rows();
        launch(Kernel.BIAS_BACKWARD, blocks(channels), BLOCK,
                args -> args.pointer(ptr(dbias)).pointer(ptr(dout)).i32(rows).i32(channels));
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        OpChecks.add(device(), a, b, out);
        long n = out.numel();
        launchElements(Kernel.ADD, n, args -> args.pointer(ptr(out)).pointer(ptr(a)).pointer(ptr(b)).i64(n));
    }

    @Override
    public void scale(Tensor x, float s) {
        OpChecks.scale(device(), x);
        long n = x.numel();
        launchElements(Kernel.SCALE, n, args -> args.pointer(ptr(x)).f32(s).i64(n));
    }

    @Override
    public void gelu(Tensor in, Tensor out) {
        OpChecks.gelu(device(), in, out);
        long n = in.numel();
        launchElements(Kernel.GELU_FORWARD, n, args -> args.pointer(ptr(out)).pointer(ptr(in)).i64(n));
    }

    @Override
    public void geluBackward(Tensor in, Tensor dout, Tensor din) {
        OpChecks.geluBackward(device(), in, dout, din);
        long n = in.numel();
        launchElements(Kernel.GELU_BACKWARD, n,
                args -> args.pointer(ptr(din)).pointer(ptr(in)).pointer(ptr(dout)).i64(n));
    }

    @Override
    public void layerNorm(Tensor in, Tensor weight, Tensor bias, float eps, Tensor out, Tensor mean, Tensor rstd) {
        OpChecks.RowDims r = OpChecks.layerNorm(device(), in, weight, bias, eps, out, mean, rstd);
        int warps = BLOCK / 32;
        launch(Kernel.LAYERNORM_FORWARD, (r.rows() + warps - 1) / warps, BLOCK,
                args -> args.pointer(ptr(out)).pointer(ptr(mean)).pointer(ptr(rstd)).pointer(ptr(in))
                        .pointer(ptr(weight)).pointer(ptr(bias)).i32(r.rows()).i32(r.columns()).f32(eps));
    }

    @Override
    public void layerNormBackward(Tensor dout, Tensor in, Tensor weight, Tensor mean, Tensor rstd, Tensor din,
                                  Tensor dweight, Tensor dbias) {
        OpChecks.RowDims r = OpChecks.layerNormBackward(device(), dout, in, weight, mean, rstd, din, dweight,
                dbias);
        int warps = BLOCK / 32;
        launch(Kernel.LAYERNORM_BACKWARD_INPUT, (r.rows() + warps - 1) / warps, BLOCK,
                args -> args.pointer(ptr(din)).pointer(ptr(dout)).pointer(ptr(in)).pointer(ptr(weight))
                        .pointer(ptr(mean)).pointer(ptr(rstd)).i32(r.rows()).i32(r.columns()));
        launch(Kernel.LAYERNORM_BACKWARD_PARAMS, blocks(r.columns()), BLOCK,
                args -> args.pointer(ptr(dweight)).pointer(ptr(dbias)).pointer(ptr(dout)).pointer(ptr(in))
                        .pointer(ptr(mean)).pointer(ptr(rstd)).i32(r.rows()).i32(r.columns()));
    }

    @Override
    public void softmax(Tensor in, Tensor out) {
        OpChecks.RowDims r = OpChecks.softmax(device(), in, out);
        launch(Kernel.SOFTMAX_FORWARD, r.rows(), rowBlock(r.columns()),
                args -> args.pointer(ptr(out)).pointer(ptr(in)).i32(r.rows()).i32(r.columns()));
    }

    @Override
    public void attention(Tensor qkv, int numHeads, int numKvHeads, Tensor out, Tensor att) {
        Heads.Dims d = new Heads.Dims(OpChecks.attention(device(), qkv, numHeads, numKvHeads, out, att));
        try (Heads h = new Heads(d, "attention", false)) {
            launchElements(Kernel.PERMUTE_QKV, d.headElements(), args -> args.pointer(ptr(h.q)).pointer(ptr(h.k))
                    .pointer(ptr(h.v)).pointer(ptr(qkv)).i32(d.b()).i32(d.t()).i32(d.nh()).i32(d.nkv()).i32(d.hs()));
            int t = d.t();
            int hs = d.hs();
            int bh = d.b() * d.nh();
            float scale = (float) (1 / Math.sqrt(hs));
            // preatt[T, T] = q·kᵀ/√hs per (b, head), into the att tensor, then the causal softmax in place.
            rawGemm(Transpose.NONE, Transpose.TRANSPOSE, t, t, hs, scale, addr(h.q), hs, (long) t * hs, addr(h.k), hs,
                    (long) t * hs, 0, addr(att), (long) t * t, bh, DType.FP32, DType.FP32);
            launch(Kernel.SOFTMAX_CAUSAL_FORWARD, (long) bh * t, rowBlock(t),
                    args -> args.pointer(ptr(att)).pointer(ptr(att)).i32(bh * t).i32(t));
            // y[T, hs] = att·v, then the heads back into [B, T, C].
            rawGemm(Transpose.NONE, Transpose.NONE, t, hs, t, 1, addr(att), t, (long) t * t, addr(h.v), hs,
                    (long) t * hs, 0, addr(h.y), (long) t * hs, bh, DType.FP32, DType.FP32);
            launchElements(Kernel.UNPERMUTE_HEADS, d.headElements(), args -> args.pointer(ptr(out)).pointer(ptr(h.y))
                    .i32(d.b()).i32(d.t()).i32(d.nh()).i32(d.hs()));
        }
    }

    @Override
    public void attentionBackward(Tensor dout, Tensor qkv, Tensor att, int numHeads, int numKvHeads, Tensor dqkv) {
        Heads.Dims d = new Heads.Dims(OpChecks.attentionBackward(device(), dout, qkv, att, numHeads, numKvHeads,
                dqkv));
        int t = d.t();
        int hs = d.hs();
        int bh = d.b() * d.nh();
        float scale = (float) (1 / Math.sqrt(hs));
        try (Heads h = new Heads(d, "attentionBackward", true);
             Tensor datt = scratch(Shape.of((long) bh * t * t), "attentionBackward.datt")) {
            launchElements(Kernel.PERMUTE_QKV, d.headElements(), args -> args.pointer(ptr(h.q)).pointer(ptr(h.k))
                    .pointer(ptr(h.v)).pointer(ptr(qkv)).i32(d.b()).i32(d.t()).i32(d.nh()).i32(d.nkv()).i32(d.hs()));
            launchElements(Kernel.PERMUTE_HEADS, d.headElements(), args -> args.pointer(ptr(h.y))
                    .pointer(ptr(dout)).i32(d.b()).i32(d.t()).i32(d.nh()).i32(d.hs()));
            long th = (long) t * hs;
            long tt = (long) t * t;
            // datt = dy·vᵀ; dv = attᵀ·dy (into the v scratch's place after it is used: into h.dv).
            rawGemm(Transpose.NONE, Transpose.TRANSPOSE, t, t, hs, 1, addr(h.y), hs, th, addr(h.v), hs, th, 0,
                    addr(datt), tt, bh, DType.FP32, DType.FP32);
            rawGemm(Transpose.TRANSPOSE, Transpose.NONE, t, hs, t, 1, addr(att), t, tt, addr(h.y), hs, th, 0,
                    addr(h.dv), th, bh, DType.FP32, DType.FP32);
            launch(Kernel.SOFTMAX_CAUSAL_BACKWARD, (long) bh * t, rowBlock(t),
                    args -> args.pointer(ptr(datt)).pointer(ptr(att)).pointer(ptr(datt)).i32(bh * t).i32(t));
            // dq = dpreatt·k/√hs; dk = dpreattᵀ·q/√hs (into y and v, no longer needed).
            rawGemm(Transpose.NONE, Transpose.NONE, t, hs, t, scale, addr(datt), t, tt, addr(h.k), hs, th, 0,
                    addr(h.y), th, bh, DType.FP32, DType.FP32);
            rawGemm(Transpose.TRANSPOSE, Transpose.NONE, t, hs, t, scale, addr(datt), t, tt, addr(h.q), hs, th, 0,
                    addr(h.v), th, bh, DType.FP32, DType.FP32);
            launchElements(Kernel.UNPERMUTE_QKV, dqkv.numel(), args -> args.pointer(ptr(dqkv)).pointer(ptr(h.y))
                    .pointer(ptr(h.v)).pointer(ptr(h.dv)).i32(d.b()).i32(d.t()).i32(d.nh()).i32(d.nkv()).i32(d.hs()));
        }
    }

    @Override
    public void rmsNorm(Tensor in, Tensor weight, float eps, Tensor out, Tensor rstd) {
        OpChecks.RowDims r = OpChecks.rmsNorm(device(), in, weight, eps, out, rstd);
        int warps = BLOCK / 32;
        launch(Kernel.RMSNORM_FORWARD, (r.rows() + warps - 1) / warps, BLOCK, args -> args.pointer(ptr(out))
                .pointer(ptr(rstd)).pointer(ptr(in)).pointer(ptr(weight)).i32(r.rows()).i32(r.columns()).f32(eps));
    }

    @Override
    public void rmsNormBackward(Tensor dout, Tensor in, Tensor weight, Tensor rstd, Tensor din, Tensor dweight) {
        OpChecks.RowDims r = OpChecks.rmsNormBackward(device(), dout, in, weight, rstd, din, dweight);
        int warps = BLOCK / 32;
        launch(Kernel.RMSNORM_BACKWARD_INPUT, (r.rows() + warps - 1) / warps, BLOCK, args -> args.pointer(ptr(din))
                .pointer(ptr(dout)).pointer(ptr(in)).pointer(ptr(weight)).pointer(ptr(rstd)).i32(r.rows())
                .i32(r.columns()));
        launch(Kernel.RMSNORM_BACKWARD_PARAMS, blocks(r.columns()), BLOCK, args -> args.pointer(ptr(dweight))
                .pointer(ptr(dout)).pointer(ptr(in)).pointer(ptr(rstd)).i32(r.rows()).i32(r.columns()));
    }

    @Override
    public void rotary(Tensor x, int heads, Tensor cos, Tensor sin, boolean inverse, Tensor out) {
        OpChecks.RotaryDims d = OpChecks.rotary(device(), x, heads, cos, sin, out);
        launchElements(Kernel.ROTARY, (long) d.batch() * d.seqLen() * d.heads() * (d.headSize() / 2),
                args -> args.pointer(ptr(out)).pointer(ptr(x)).pointer(ptr(cos)).pointer(ptr(sin)).i32(d.batch())
                        .i32(d.seqLen()).i32(d.width()).i32(d.heads()).i32(d.headSize()).f32(inverse ? -1f : 1f));
        boolean inPlace = x.deviceAddress() == out.deviceAddress();
        int from = d.heads() * d.headSize();
        if (!inPlace && from < d.width()) {
            long rows = (long) d.batch() * d.seqLen();
            launchElements(Kernel.COPY_COLUMNS, rows * (d.width() - from), args -> args.pointer(ptr(out))
                    .pointer(ptr(x)).i64(rows).i32(d.width()).i32(from));
        }
    }

    @Override
    public void swiglu(Tensor gateUp, Tensor out) {
        OpChecks.RowDims r = OpChecks.swiglu(device(), gateUp, out);
        launchElements(Kernel.SWIGLU_FORWARD, (long) r.rows() * r.columns(), args -> args.pointer(ptr(out))
                .pointer(ptr(gateUp)).i64(r.rows()).i32(r.columns()));
    }

    @Override
    public void swigluBackward(Tensor gateUp, Tensor dout, Tensor dgateUp) {
        OpChecks.RowDims r = OpChecks.swigluBackward(device(), gateUp, dout, dgateUp);
        launchElements(Kernel.SWIGLU_BACKWARD, (long) r.rows() * r.columns(), args -> args.pointer(ptr(dgateUp))
                .pointer(ptr(gateUp)).pointer(ptr(dout)).i64(r.rows()).i32(r.columns()));
    }

    @Override
    public void embedding(Tensor tokens, Tensor wte, Tensor wpe, Tensor out) {
        OpChecks.EmbeddingDims e = OpChecks.embedding(device(), tokens, wte, wpe, out);
        launchElements(Kernel.EMBEDDING_FORWARD, out.numel(), args -> args.pointer(ptr(out)).pointer(ptr(tokens))
                .pointer(ptr(wte)).pointer(ptr(wpe)).i32(e.batch()).i32(e.seqLen()).i32(e.channels()).i32(e.vocab()));
    }

    @Override
    public void embeddingBackward(Tensor dout, Tensor tokens, Tensor dwte, Tensor dwpe) {
        OpChecks.EmbeddingDims e = OpChecks.embeddingBackward(device(), dout, tokens, dwte, dwpe);
        launchElements(Kernel.EMBEDDING_BACKWARD_WPE, (long) e.seqLen() * e.channels(), args -> args.pointer(ptr(dwpe))
                .pointer(ptr(dout)).i32(e.batch()).i32(e.seqLen()).i32(e.channels()));
        launch(Kernel.EMBEDDING_BACKWARD_WTE, blocks(e.channels()), BLOCK, args -> args.pointer(ptr(dwte))
                .pointer(ptr(dout)).pointer(ptr(tokens)).i32(e.batch() * e.seqLen()).i32(e.channels()).i32(e.vocab()));
    }

    @Override
    public void crossEntropy(Tensor logits, Tensor targets, float dlossScale, Tensor losses, Tensor dlogits) {
        OpChecks.RowDims r = OpChecks.crossEntropy(device(), logits, targets, losses, dlogits);
        launch(Kernel.CROSSENTROPY_FORWARD_BACKWARD, r.rows(), rowBlock(r.columns()),
                args -> args.pointer(ptr(losses)).pointer(ptr(dlogits)).pointer(ptr(logits)).pointer(ptr(targets))
                        .i32(r.rows()).i32(r.columns()).f32(dlossScale));
    }

    @Override
    public void vocabEmbedding(Tensor tokens, Tensor wte, VocabSlice slice, Tensor out) {
        VocabChecks.EmbeddingShardDims e = VocabChecks.embedding(device(), tokens, wte, slice, out);
        launchElements(Kernel.VOCAB_EMBEDDING_FORWARD, out.numel(), args -> args.pointer(ptr(out))
                .pointer(ptr(tokens)).pointer(ptr(wte)).i32(e.ids()).i32(e.channels()).i32(e.rows())
                .i32(slice.offset()).i32(slice.vocab()));
    }

    @Override
    public void vocabEmbeddingBackward(Tensor dout, Tensor tokens, VocabSlice slice, Tensor dwte) {
        VocabChecks.EmbeddingShardDims e = VocabChecks.embeddingBackward(device(), dout, tokens, slice, dwte);
        if (e.ids() == 0) {
            return;
        }
        launch(Kernel.VOCAB_EMBEDDING_BACKWARD, blocks(e.channels()), BLOCK, args -> args.pointer(ptr(dwte))
                .pointer(ptr(dout)).pointer(ptr(tokens)).i32(e.ids()).i32(e.channels()).i32(e.rows())
                .i32(slice.offset()).i32(slice.vocab()));
    }

    @Override
    public void vocabLogitStats(Tensor logits, Tensor targets, VocabSlice slice, Tensor max, Tensor targetLogit) {
        OpChecks.RowDims r = VocabChecks.logitStats(device(), logits, targets, slice, max, targetLogit);
        int valid = slice.valid(r.columns());
        launch(Kernel.VOCAB_LOGIT_STATS, r.rows(), rowBlock(valid), args -> args.pointer(ptr(max))
                .pointer(ptr(targetLogit)).pointer(ptr(logits)).pointer(ptr(targets)).i32(r.columns())
                .i32(slice.offset()).i32(valid).i32(slice.vocab()));
    }

    @Override
    public void vocabSumExp(Tensor logits, VocabSlice slice, Tensor max, Tensor sumExp) {
        OpChecks.RowDims r = VocabChecks.sumExp(device(), logits, slice, max, sumExp);
        int valid = slice.valid(r.columns());
        launch(Kernel.VOCAB_SUM_EXP, r.rows(), rowBlock(valid), args -> args.pointer(ptr(sumExp))
                .pointer(ptr(logits)).pointer(ptr(max)).i32(r.columns()).i32(valid));
    }

    @Override
    public void vocabCrossEntropy(Tensor logits, Tensor targets, VocabSlice slice, Tensor max, Tensor sumExp,
                                  Tensor targetLogit, float dlossScale, Tensor losses, Tensor dlogits) {
        OpChecks.RowDims r = VocabChecks.crossEntropy(device(), logits, targets, slice, max, sumExp, targetLogit,
                losses, dlogits);
        launch(Kernel.VOCAB_CROSSENTROPY, r.rows(), rowBlock(r.columns()), args -> args.pointer(ptr(losses))
                .pointer(ptr(dlogits)).pointer(ptr(logits)).pointer(ptr(targets)).pointer(ptr(max))
                .pointer(ptr(sumExp)).pointer(ptr(targetLogit)).i32(r.columns()).i32(slice.offset())
                .i32(slice.valid(r.columns())).f32(dlossScale));
    }

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step) {
        OpChecks.adamW(device(), param, grad, m, v, step);
        long n = param.numel();
        launchElements(Kernel.ADAMW, n, args -> args.pointer(ptr(param)).pointer(ptr(grad)).pointer(ptr(m))
                .pointer(ptr(v)).i64(n).f32(step.learningRate()).f32(step.beta1()).f32(step.beta2()).f32(step.eps())
                .f32(step.weightDecay()).f32(step.biasCorrection1()).f32(step.biasCorrection2()));
    }

    @Override
    public void cast(Tensor src, Tensor dst) {
        OpChecks.cast(device(), src, dst);
        if (src.dtype() == dst.dtype()) {
            dst.copyFrom(src, stream);
            return;
        }
        Kernel kernel = switch (src.dtype()) {
            case FP32 -> dst.dtype() == DType.BF16 ? Kernel.CAST_F32_BF16 : Kernel.CAST_F32_F16;
            case BF16 -> dst.dtype() == DType.FP32 ? Kernel.CAST_BF16_F32 : Kernel.CAST_BF16_F16;
            case FP16 -> dst.dtype() == DType.FP32 ? Kernel.CAST_F16_F32 : Kernel.CAST_F16_BF16;
            default -> throw new IllegalStateException("unchecked cast from " + src.dtype());
        };
        long n = src.numel();
        launchElements(kernel, n, args -> args.pointer(ptr(dst)).pointer(ptr(src)).i64(n));
    }

    @Override
    public void scaleAndCheckFinite(Tensor x, float s, Tensor flag) {
        OpChecks.scaleAndCheckFinite(device(), x, flag);
        long n = x.numel();
        launchElements(Kernel.SCALE_CHECK_FINITE, n, args -> args.pointer(ptr(x)).f32(s).i64(n).pointer(ptr(flag)));
    }

    @Override
    public void sumOfSquares(Tensor x, Tensor out) {
        OpChecks.sumOfSquares(device(), x, out);
        long n = x.numel();
        int grid = (int) Math.min(PARTIALS, Math.max(1, (n + BLOCK - 1) / BLOCK));
        try (Tensor partial = scratch(Shape.of(grid), "sumOfSquares.partial")) {
            launch(Kernel.SUM_OF_SQUARES_PARTIAL, grid, BLOCK, args -> args.pointer(ptr(partial)).pointer(ptr(x)).i64(n));
            launch(Kernel.SUM_OF_SQUARES_FINAL, 1, 32, args -> args.pointer(ptr(out)).pointer(ptr(partial)).i32(grid));
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Cuda.setDevice(device().ordinal());
        try {
            Cublas.destroy(cublas);
        } finally {
            workspace.close();
            kernels.close();
        }
    }

    /** The per-head layouts of attention, [B·NH, T, hs] each: q, k, v, the output y, and (backward only) dv. */
    private final class Heads implements AutoCloseable {
        /** Attention's sizes under the short names the kernels use. */
        record Dims(int b, int t, int nh, int nkv, int hs) {
            Dims(OpChecks.AttentionDims d) {
                this(d.batch(), d.seqLen(), d.numHeads(), d.numKvHeads(), d.headSize());
            }

            long headElements() {
                return (long) b * t * nh * hs;
            }
        }

        final Tensor q;
        final Tensor k;
        final Tensor v;
        final Tensor y;
        final Tensor dv;

        Heads(Dims d, String owner, boolean backward) {
            Shape shape = Shape.of(d.headElements());
            q = scratch(shape, owner + ".q");
            k = scratch(shape, owner + ".k");
            v = scratch(shape, owner + ".v");
            y = scratch(shape, owner + ".y");
            dv = backward ? scratch(shape, owner + ".dv") : null;
        }

        @Override
        public void close() {
            q.close();
            k.close();
            v.close();
            y.close();
            if (dv != null) {
                dv.close();
            }
        }
    }

    /**
     * Compiles (or reads from the kernel cache directory) and loads every kernel family on this device now, instead
     * of at each family's first launch: a job can pay the NVRTC cost before its first step, and a benchmark can time
     * it. Families already loaded cost nothing and say so.
     *
     * @return one entry per family, in a fixed order, with where its image came from and how long it took
     */
    public List<KernelLoad> loadKernels() {
        begin();
        return kernels.loadAll();
    }

    private Tensor scratch(Shape shape, String owner) {
        return Tensor.allocate(allocator, DType.FP32, shape, MemoryCategory.WORKSPACE, owner, stream);
    }

    private void begin() {
        if (closed) {
            throw new IllegalStateException("CudaBackend on " + device() + " is closed");
        }
        Cuda.setDevice(device().ordinal());
    }

    private void launchElements(Kernel kernel, long n, Consumer<KernelArguments> args) {
        if (n == 0) {
            return;
        }
        launch(kernel, Math.min(MAX_GRID, (n + BLOCK - 1) / BLOCK), BLOCK, args);
    }

    private void launch(Kernel kernel, long grid, int block,
                        Consumer<KernelArguments> args) {
        if (grid == 0) {
            return;
        }
        begin();
        kernels.launch(kernel, grid, block, stream, args);
    }

    private static long blocks(long n) {
        return (n + BLOCK - 1) / BLOCK;
    }

    /** Threads for one row of {@code columns}: a multiple of 32, at most {@value #BLOCK}. */
    private static int rowBlock(int columns) {
        return Math.min(BLOCK, Math.max(32, (columns + 31) / 32 * 32));
    }

    private static long addr(Tensor t) {
        return t.deviceAddress();
    }

    private static MemorySegment ptr(Tensor t) {
        return MemorySegment.ofAddress(t.deviceAddress());
    }
}
