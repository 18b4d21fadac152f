package dev.gatun.llama;

import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.tp.VocabParallelOutput;
import dev.gatun.tp.Parameter;
import dev.gatun.train.Layer;
import dev.gatun.train.LayerContext;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The last layer: the final RMSNorm ({@code norm}), then the vocabulary-parallel logits
 * {@code z_r = norm(x)·W_rᵀ [B·T, Vp/tp]} with {@code W_r} this rank's rows of the output embedding: the token
 * embedding itself when tied and on the same rank, otherwise a parameter of this layer (named
 * {@link LlamaEmbedding#WEIGHT} when it is the tied copy of another pipeline stage, {@code "lm_head.weight"} when
 * untied), through {@link VocabParallelOutput}.
 */
public final class LlamaHead implements Layer {
    public static final String UNTIED = "lm_head.weight";

    private final RmsNorm norm;
    private final Parameter weight;
    private final boolean ownsWeight;
    private final VocabParallelOutput output;

    /**
     * @param tiedEmbedding the token embedding when it is on this rank and tied, else null (the head then creates
     *                      its own weight: the tied copy if {@code config.tiedHead()}, else an untied one)
     */
    public LlamaHead(LlamaConfig config, LayerContext ctx, Parameter tiedEmbedding) {
        int channels = config.channels();
        int tp = ctx.tpSize();
        int padded = config.paddedVocab(tp);
        int localVocab = padded / tp;
        this.norm = new RmsNorm(channels, config.normEps(), ctx, "norm");
        if (tiedEmbedding != null) {
            if (!config.tiedHead()) {
                throw new IllegalArgumentException("an untied head was given the token embedding");
            }
            this.weight = tiedEmbedding;
            this.ownsWeight = false;
        } else {
            long offset = (long) ctx.tp().group().rank() * localVocab * channels;
            this.weight = Parameter.gaussian(ctx.allocator(), ctx.backend().stream(),
                    config.tiedHead() ? LlamaEmbedding.WEIGHT : UNTIED, Shape.of(localVocab, channels),
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

    @Override
    public List<Parameter> tiedCopies() {
        return ownsWeight && weight.name().equals(LlamaEmbedding.WEIGHT) ? List.of(weight) : List.of();
    }

    @Override
    public Set<String> tiedDuplicates() {
        return tiedCopies().isEmpty() ? Set.of() : Set.of(weight.name());
    }

    @Override
    public List<Parameter> parameters() {
        List<Parameter> p = new ArrayList<>(List.of(norm.weight()));
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
        return Set.of(norm.weight().name());
    }

    @Override
    public Set<String> computeOnly() {
        return ownsWeight ? Set.of(weight.name()) : Set.of();
    }

    @Override
    public Tensor forward(int microBatch, Tensor x) {
        return output.forward(microBatch, norm.forward(microBatch, x));
    }

    @Override
    public Tensor backward(int microBatch, Tensor dlogits) {
        return output.backward(microBatch, dlogits, dh -> norm.backward(microBatch, dh));
    }

    @Override
    public Tensor backwardInput(int microBatch, Tensor dlogits) {
        return output.backwardInput(microBatch, dlogits, dh -> norm.backward(microBatch, dh));
    }

    @Override
    public void backwardWeight(int microBatch) {
        output.backwardWeight(microBatch);
    }

    @Override
    public void close() {
        output.close();
        norm.close();
        if (ownsWeight) {
            weight.close();
        }
    }
}
