package dev.gatun.gpt.model;

import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.tp.Parameter;
import dev.gatun.tp.VocabParallelEmbedding;

import java.util.List;
import java.util.Set;
import dev.gatun.train.DeferredBackward;
import dev.gatun.train.LayerContext;
import dev.gatun.train.Layer;

/**
 * Token and position embedding, the first layer: {@code x[b, t] = wte[id[b, t]] + wpe[t]} with {@code wte [Vp, C]}
 * split over tp by vocabulary ({@link VocabParallelEmbedding}, one all-reduce of {@code [B·T, C]}) and
 * {@code wpe [T, C]} replicated. Input: int32 ids {@code [B, T]}; output {@code [B, T, C]}.
 *
 * <p>With sequence parallelism the output is this tp rank's {@code B·T/tp} token rows {@code [B·T/tp, C]}: the
 * ranks' partial lookups (tp rank 0's with {@code wpe} added) are reduce-scattered instead of all-reduced, and the
 * backward all-gathers the output gradient first. Every row of the partials has one nonzero term, so the sums are
 * those without it, bit for bit.
 */
public final class EmbeddingLayer implements Layer {
    public static final String WTE = "wte.weight";
    public static final String WPE = "wpe.weight";

    private final LayerContext ctx;
    private final GptConfig config;
    private final VocabParallelEmbedding wte;
    private final Parameter wpe;
    private final boolean tiedAcrossStages;
    /** Between the halves of a split backward: a copy of each micro-batch's output gradient. */
    private final DeferredBackward deferred;

    /**
     * @param tiedAcrossStages whether the head, on another pipeline stage, holds a copy of {@code wte} (a tied head in
     *                         a pipeline of more than one stage)
     */
    public EmbeddingLayer(GptConfig config, LayerContext ctx, boolean tiedAcrossStages) {
        this.ctx = ctx;
        this.deferred = new DeferredBackward(ctx, "embedding");
        this.tiedAcrossStages = tiedAcrossStages;
        this.config = config;
        this.wte = new VocabParallelEmbedding(config.vocab(), config.paddedVocab(ctx.tpSize()), config.channels(),
                ctx.tp(), ctx.backend(), ctx.allocator(), "wte", ctx.seed());
        Shape wpeShape = Shape.of(config.seqLen(), config.channels());
        this.wpe = Parameter.gaussian(ctx.allocator(), ctx.backend().stream(), WPE, wpeShape, wpeShape, ctx.seed(),
                0.01, i -> i);
    }

    @Override
    public String name() {
        return "embedding";
    }

    /** The token embedding shard {@code wte_r [Vp/tp, C]}, read by a tied head. */
    public Parameter tokenEmbedding() {
        return wte.weight();
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(wte.weight(), wpe);
    }

    /** {@code wte} when the last stage's head holds a copy of it. */
    @Override
    public List<Parameter> tiedCopies() {
        return tiedAcrossStages ? List.of(wte.weight()) : List.of();
    }

    @Override
    public Set<String> tpReplicated() {
        return Set.of(WPE);
    }

    @Override
    public Tensor forward(int microBatch, Tensor ids) {
        if (ids.shape().rank() != 2 || ids.shape().dim(1) != config.seqLen()) {
            throw new IllegalArgumentException("token ids must be [B, " + config.seqLen() + "], got " + ids.shape());
        }
        long b = ids.shape().dim(0);
        long tc = (long) config.seqLen() * config.channels();
        if (!ctx.sequenceParallel()) {
            Tensor out = wte.forward(microBatch, ids);
            ctx.backend().addBias(out.reshape(b, tc), wpe.value().reshape(tc));
            return out;
        }
        return wte.forwardRows(microBatch, ids,
                partial -> ctx.backend().addBias(partial.reshape(b, tc), wpe.value().reshape(tc)));
    }

    @Override
    public Tensor backward(int microBatch, Tensor dout) {
        if (!ctx.sequenceParallel()) {
            accumulate(microBatch, dout);
        } else {
            wte.backwardRows(microBatch, dout, this::positionGrad);
        }
        return null;
    }

    /** {@code dwpe += Σ_b dout[b]}, {@code dwte_r} from the whole output gradient {@code [B, T, C]}. */
    private void accumulate(int microBatch, Tensor dout) {
        positionGrad(dout);
        wte.backward(microBatch, dout);
    }

    private void positionGrad(Tensor dout) {
        long tc = (long) config.seqLen() * config.channels();
        ctx.backend().biasBackward(dout.reshape(-1, tc), wpe.grad().reshape(tc));
    }

    /**
     * The input half: the ids have no gradient, so this only keeps a copy of {@code dout} for
     * {@link #backwardWeight}, which adds both embeddings' gradients; deferring them keeps a tied head's and the
     * embedding's additions to {@code wte}'s gradient in the order of the whole backward (the head's weight half runs
     * first), so the sums are equal bit for bit.
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
        wpe.close();
        wte.close();
    }
}
