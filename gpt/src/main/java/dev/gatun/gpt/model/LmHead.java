package dev.gatun.gpt.model;

import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.tp.VocabParallelOutput;
import dev.gatun.tp.Parameter;

import java.util.List;
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
    private final LayerNorm lnf;
    private final Parameter weight;
    private final boolean ownsWeight;
    private final VocabParallelOutput output;

    /**
     * @param tiedEmbedding the token embedding when it is on this rank and tied, else null (the head then creates
     *                      its own weight: the tied copy if {@code config.tiedHead()}, else an untied one)
     */
    public LmHead(GptConfig config, LayerContext ctx, Parameter tiedEmbedding) {
        int channels = config.channels();
        int tp = ctx.tpSize();
        int padded = config.paddedVocab(tp);
        int localVocab = padded / tp;
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
        this.output = new VocabParallelOutput(weight, channels, ctx.tp(), ctx.backend(), ctx.allocator(),
                ctx.sequenceParallel());
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
        return output.forward(microBatch, lnf.forward(microBatch, x));
    }

    @Override
    public Tensor backward(int microBatch, Tensor dlogits) {
        return output.backward(microBatch, dlogits, dh -> lnf.backward(microBatch, dh));
    }

    /**
     * The input half of the backward: {@code dh = dz·W_r}, summed over tp, then ln_f's backward (its gradients added
     * here); the logits' gradient and ln_f's output are kept for {@link #backwardWeight}.
     */
    @Override
    public Tensor backwardInput(int microBatch, Tensor dlogits) {
        return output.backwardInput(microBatch, dlogits, dh -> lnf.backward(microBatch, dh));
    }

    /** The weight half: {@code dW_r += dzᵀ·h} from what {@link #backwardInput} kept. */
    @Override
    public void backwardWeight(int microBatch) {
        output.backwardWeight(microBatch);
    }

    @Override
    public void close() {
        output.close();
        if (ownsWeight) {
            weight.close();
        }
        lnf.close();
    }
}
