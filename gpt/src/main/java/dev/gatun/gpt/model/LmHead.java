package dev.gatun.gpt.model;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.Transpose;
import dev.gatun.tp.MixedGemm;
import dev.gatun.tp.Parameter;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import dev.gatun.train.LayerContext;
import dev.gatun.train.Layer;

/**
 * The last layer: final LayerNorm, then the vocabulary-parallel logits {@code z_r = ln_f(x)·W_rᵀ [B·T, Vp/tp]} with
 * {@code W_r} this rank's rows of the output embedding: the token embedding itself when tied and on the same rank,
 * otherwise a parameter of this layer (named {@link EmbeddingLayer#WTE} when it is the tied copy of another pipeline
 * stage, which starts equal to it and receives the same summed gradient; {@code "lm_head.weight"} when untied). The
 * input passes {@code f} (all-reduce of the input gradient over tp). The logits go to
 * {@link dev.gatun.tp.VocabParallelCrossEntropy}.
 *
 * <p>With sequence parallelism the input is this tp rank's token rows {@code [B·T/tp, C]}: ln_f normalises them, and
 * its output passes {@link dev.gatun.tp.Mappings#gatherFromSequenceParallelRegion()} instead of {@code f} (the whole
 * {@code [B·T, C]} all-gathered for the GEMM, its gradient reduce-scattered back to the rows).
 */
public final class LmHead implements Layer {
    private final LayerContext ctx;
    private final int channels;
    private final int localVocab;
    private final LayerNorm lnf;
    private final Parameter weight;
    private final boolean ownsWeight;
    private final Map<Integer, Tensor> saved = new HashMap<>();
    /** Between the halves of a split backward: ln_f's output and the copy of the logits' gradient. */
    private final Map<Integer, Tensor[]> pending = new HashMap<>();

    /**
     * @param tiedEmbedding the token embedding when it is on this rank and tied, else null (the head then creates
     *                      its own weight: the tied copy if {@code config.tiedHead()}, else an untied one)
     */
    public LmHead(GptConfig config, LayerContext ctx, Parameter tiedEmbedding) {
        this.ctx = ctx;
        this.channels = config.channels();
        int tp = ctx.tpSize();
        int padded = config.paddedVocab(tp);
        this.localVocab = padded / tp;
        this.lnf = new LayerNorm(channels, ctx, "ln_f");
        if (tiedEmbedding != null) {
            if (!config.tiedHead()) {
                throw new IllegalArgumentException("an untied head was given the token embedding");
            }
            this.weight = tiedEmbedding;
            this.ownsWeight = false;
        } else {
            long offset = (long) ctx.tp().group().rank() * localVocab * channels;
            this.weight = Parameter.gaussian(ctx.allocator(), ctx.backend().stream(),
                    config.tiedHead() ? EmbeddingLayer.WTE : "lm_head.weight", Shape.of(localVocab, channels),
                    Shape.of(padded, channels), ctx.seed(), 0.02, i -> offset + i);
            this.ownsWeight = true;
        }
    }

    @Override
    public String name() {
        return "lm_head";
    }

    /** Its copy of the tied embedding, when it holds one (a tied head on another stage than the embedding). */
    @Override
    public List<Parameter> tiedCopies() {
        return ownsWeight && weight.name().equals(EmbeddingLayer.WTE) ? List.of(weight) : List.of();
    }

    /** The copy is counted once in the gradient norm: on the embedding's stage. */
    @Override
    public Set<String> tiedDuplicates() {
        return tiedCopies().isEmpty() ? Set.of() : Set.of(weight.name());
    }

    /** The output embedding this head multiplies by, owned or borrowed. */
    public Parameter outputWeight() {
        return weight;
    }

    @Override
    public List<Parameter> parameters() {
        List<Parameter> p = new java.util.ArrayList<>(lnf.parameters());
        if (ownsWeight) {
            p.add(weight);
        }
        return p;
    }

    @Override
    public List<Parameter> borrowed() {
        return ownsWeight ? List.of() : List.of(weight);
    }

    @Override
    public Set<String> tpReplicated() {
        return Set.of("ln_f.weight", "ln_f.bias");
    }

    /** Its own weight (untied, or the last stage's copy of the tied embedding) is read by GEMMs only. */
    @Override
    public Set<String> computeOnly() {
        return ownsWeight ? Set.of(weight.name()) : Set.of();
    }

    @Override
    public Tensor forward(int microBatch, Tensor x) {
        Tensor h = lnf.forward(microBatch, x);
        if (ctx.sequenceParallel()) {
            try (Tensor rows = h) {
                h = Tensor.allocate(ctx.allocator(), DType.FP32, Shape.of(rows.numel() / channels * ctx.tpSize(),
                        channels), MemoryCategory.ACTIVATIONS, "lm_head.input", ctx.backend().stream());
                ctx.tp().gatherFromSequenceParallelRegion().forward(rows.reshape(-1, channels), h);
            }
        }
        long n = h.numel() / channels;
        Tensor h2 = h.reshape(n, channels);
        ctx.tp().copyToRegion().forward(h2, h2);
        Tensor logits = Tensor.allocate(ctx.allocator(), DType.FP32, Shape.of(n, localVocab),
                MemoryCategory.ACTIVATIONS, "lm_head.logits", ctx.backend().stream());
        Tensor w = weight.compute();
        MixedGemm.gemm(ctx.backend(), ctx.allocator(), w.dtype(), h2, Transpose.NONE, w, Transpose.TRANSPOSE, logits,
                0f);
        saved.put(microBatch, h);
        return logits;
    }

    @Override
    public Tensor backward(int microBatch, Tensor dlogits) {
        Tensor h = saved.remove(microBatch);
        if (h == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in lm_head");
        }
        long n = h.numel() / channels;
        Tensor h2 = h.reshape(n, channels);
        try (h; Tensor dh = Tensor.allocate(ctx.allocator(), DType.FP32, h.shape(), MemoryCategory.ACTIVATIONS,
                "lm_head.dh", ctx.backend().stream())) {
            Tensor dh2 = dh.reshape(n, channels);
            Tensor w = weight.compute();
            MixedGemm.gemm(ctx.backend(), ctx.allocator(), w.dtype(), dlogits, Transpose.NONE, w, Transpose.NONE, dh2,
                    0f);
            MixedGemm.gemm(ctx.backend(), ctx.allocator(), w.dtype(), dlogits, Transpose.TRANSPOSE, h2,
                    Transpose.NONE, weight.grad(), 1f);
            return normBackward(microBatch, dh2);
        }
    }

    /** {@code dh [B·T, C]}, summed over tp (all-reduce, or reduce-scatter to this rank's rows), through ln_f. */
    private Tensor normBackward(int microBatch, Tensor dh2) {
        if (!ctx.sequenceParallel()) {
            ctx.tp().copyToRegion().backward(dh2, dh2);
            return lnf.backward(microBatch, dh2);
        }
        try (Tensor rows = Tensor.allocate(ctx.allocator(), DType.FP32, Shape.of(dh2.shape().dim(0) / ctx.tpSize(),
                channels), MemoryCategory.ACTIVATIONS, "lm_head.dh", ctx.backend().stream())) {
            ctx.tp().gatherFromSequenceParallelRegion().backward(dh2, rows);
            return lnf.backward(microBatch, rows);
        }
    }

    /**
     * The input half of the backward: {@code dh = dz·W_r}, all-reduced over tp, then ln_f's backward (its gradients
     * added here). Kept for {@link #backwardWeight}: a copy of the logits' gradient {@code dz [B·T, Vp/tp]} and
     * ln_f's output, which {@code dW_r += dzᵀ·h} reads.
     */
    @Override
    public Tensor backwardInput(int microBatch, Tensor dlogits) {
        if (pending.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch
                    + " already waits for its weight gradients in lm_head");
        }
        Tensor h = saved.remove(microBatch);
        if (h == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in lm_head");
        }
        long n = h.numel() / channels;
        var stream = ctx.backend().stream();
        Tensor dz = Tensor.allocate(ctx.allocator(), DType.FP32, dlogits.shape(), MemoryCategory.ACTIVATIONS,
                "lm_head.dlogits", stream);
        boolean ok = false;
        try (Tensor dh = Tensor.allocate(ctx.allocator(), DType.FP32, h.shape(), MemoryCategory.ACTIVATIONS,
                "lm_head.dh", stream)) {
            dz.copyFrom(dlogits, stream);
            Tensor dh2 = dh.reshape(n, channels);
            Tensor w = weight.compute();
            MixedGemm.gemm(ctx.backend(), ctx.allocator(), w.dtype(), dz, Transpose.NONE, w, Transpose.NONE, dh2, 0f);
            Tensor dx = normBackward(microBatch, dh2);
            pending.put(microBatch, new Tensor[] {h, dz});
            ok = true;
            return dx;
        } finally {
            if (!ok) {
                dz.close();
                h.close();
            }
        }
    }

    /** The weight half: {@code dW_r += dzᵀ·h} from what {@link #backwardInput} kept. */
    @Override
    public void backwardWeight(int microBatch) {
        Tensor[] p = pending.remove(microBatch);
        if (p == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch
                    + " waits in lm_head: run backwardInput first");
        }
        try (Tensor h = p[0]; Tensor dz = p[1]) {
            Tensor w = weight.compute();
            MixedGemm.gemm(ctx.backend(), ctx.allocator(), w.dtype(), dz, Transpose.TRANSPOSE,
                    h.reshape(h.numel() / channels, channels), Transpose.NONE, weight.grad(), 1f);
        }
    }

    @Override
    public void close() {
        saved.values().forEach(Tensor::close);
        saved.clear();
        pending.values().forEach(p -> {
            p[0].close();
            p[1].close();
        });
        pending.clear();
        if (ownsWeight) {
            weight.close();
        }
        lnf.close();
    }
}
