package dev.gatun.llama;

import dev.gatun.memory.Tensor;
import dev.gatun.tp.Parameter;
import dev.gatun.tp.VocabParallelEmbedding;
import dev.gatun.train.Layer;
import dev.gatun.train.DeferredBackward;
import dev.gatun.train.LayerContext;

import java.util.List;
import java.util.Set;

/**
 * The token embedding, the first layer: {@code x[b, t] = E[id[b, t]]} with {@code E [Vp, C]} split over tp by
 * vocabulary ({@link VocabParallelEmbedding}, one all-reduce of {@code [B·T, C]}); no position embedding (the
 * attention's rotary embedding places the tokens). Input: int32 ids {@code [B, T]}; output {@code [B, T, C]}, or
 * with sequence parallelism this rank's token rows {@code [B·T/tp, C]} (the partial lookups reduce-scattered).
 */
public final class LlamaEmbedding implements Layer {
    public static final String WEIGHT = "embed_tokens.weight";

    private final LlamaConfig config;
    private final LayerContext ctx;
    private final VocabParallelEmbedding embedding;
    private final boolean tiedAcrossStages;
    /** Between the halves of a split backward: a copy of each micro-batch's output gradient. */
    private final DeferredBackward deferred;

    /**
     * @param tiedAcrossStages whether the head, on another pipeline stage, holds a copy of the embedding (a tied head
     *                         in a pipeline of more than one stage)
     */
    public LlamaEmbedding(LlamaConfig config, LayerContext ctx, boolean tiedAcrossStages) {
        this.config = config;
        this.ctx = ctx;
        this.deferred = new DeferredBackward(ctx, "embed_tokens");
        this.tiedAcrossStages = tiedAcrossStages;
        this.embedding = new VocabParallelEmbedding(config.vocab(), config.paddedVocab(ctx.tpSize()),
                config.channels(), ctx.tp(), ctx.backend(), ctx.allocator(), "embed_tokens", ctx.seed());
    }

    @Override
    public String name() {
        return "embed_tokens";
    }

    /** This rank's rows {@code E_r [Vp/tp, C]}, read by a tied head. */
    public Parameter tokenEmbedding() {
        return embedding.weight();
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(embedding.weight());
    }

    @Override
    public List<Parameter> tiedCopies() {
        return tiedAcrossStages ? List.of(embedding.weight()) : List.of();
    }

    @Override
    public Set<String> tpReplicated() {
        return Set.of();
    }

    @Override
    public Tensor forward(int microBatch, Tensor ids) {
        if (ids.shape().rank() != 2 || ids.shape().dim(1) != config.seqLen()) {
            throw new IllegalArgumentException("token ids must be [B, " + config.seqLen() + "], got " + ids.shape());
        }
        if (!ctx.sequenceParallel()) {
            return embedding.forward(microBatch, ids);
        }
        return embedding.forwardRows(microBatch, ids, null);
    }

    @Override
    public Tensor backward(int microBatch, Tensor dout) {
        if (!ctx.sequenceParallel()) {
            embedding.backward(microBatch, dout);
        } else {
            embedding.backwardRows(microBatch, dout, null);
        }
        return null;
    }

    /**
     * The input half: the ids have no gradient, so this only keeps a copy of {@code dout} for
     * {@link #backwardWeight}, which adds the embedding's gradient (after a tied head's weight half, as in the whole
     * backward's order).
     */
    @Override
    public Tensor backwardInput(int microBatch, Tensor dout) {
        deferred.keep(microBatch, dout);
        return null;
    }

    @Override
    public void backwardWeight(int microBatch) {
        deferred.run(microBatch, this::backward);
    }

    @Override
    public void close() {
        deferred.close();
        embedding.close();
    }
}
