package dev.gatun.llama;

import dev.gatun.pipeline.StagePartition;
import dev.gatun.pipeline.StagePartitioner;
import dev.gatun.pipeline.TensorSpec;
import dev.gatun.train.LanguageModelLoss;
import dev.gatun.train.Layer;
import dev.gatun.train.LayerContext;
import dev.gatun.train.Model;
import dev.gatun.train.ModelLoss;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.TokenStages;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The Llama model of {@code config} on the training engine: the decoder layers balanced over the pipeline stages
 * ({@link StagePartitioner}, every layer the same cost), the embedding on stage 0 and the head on the last (a tied
 * head holds a copy of the embedding when they are on different stages), the vocabulary-parallel cross-entropy as
 * its loss. Stage 0 takes int32 token ids {@code [B, T]}, the others activations {@code [B, T, C]}; the last gives
 * the logits {@code [B·T, Vp/tp]}; the targets are the next tokens {@code [B, T]}. Tensor parallelism splits the
 * query and key/value heads (tp must divide the key/value heads) and the MLP's width.
 */
public record LlamaModel(LlamaConfig config) implements Model {
    public LlamaModel {
        Objects.requireNonNull(config, "config must not be null");
    }

    @Override
    public String id() {
        return config.toString();
    }

    @Override
    public void validate(ParallelLayout layout) {
        if (config.kvHeads() % layout.tp() != 0) {
            throw new IllegalArgumentException("--tp " + layout.tp() + " must divide the model's " + config.kvHeads()
                    + " key/value heads (each rank holds whole key/value heads with their groups of query heads)");
        }
        if (config.hidden() % layout.tp() != 0) {
            throw new IllegalArgumentException("--tp " + layout.tp() + " must divide the MLP's width "
                    + config.hidden());
        }
        if (layout.stages() > config.layers()) {
            throw new IllegalArgumentException("--pp " + layout.pp() + (layout.virtualStages() > 1
                    ? " x --virtual-stages " + layout.virtualStages() : "") + " = " + layout.stages()
                    + " stages, more than the model's " + config.layers() + " layers: use at most " + config.layers()
                    + " stages");
        }
    }

    @Override
    public List<Layer> buildStage(int stage, int stages, LayerContext ctx) {
        double[] costs = new double[config.layers()];
        Arrays.fill(costs, 1.0);
        StagePartition blocks = StagePartitioner.balance(costs, stages);
        List<Layer> layers = new ArrayList<>();
        boolean ok = false;
        try {
            if (stage == 0) {
                layers.add(new LlamaEmbedding(config, ctx, config.tiedHead() && stages > 1));
            }
            int first = blocks.firstLayer(stage);
            for (int i = first; i < first + blocks.layersPerStage().get(stage); i++) {
                layers.add(new LlamaBlock(i, config, ctx));
            }
            if (stage == stages - 1) {
                LlamaEmbedding embedding = stage == 0 ? (LlamaEmbedding) layers.getFirst() : null;
                layers.add(new LlamaHead(config, ctx, config.tiedHead() && embedding != null
                        ? embedding.tokenEmbedding() : null));
            }
            ok = true;
            return List.copyOf(layers);
        } finally {
            if (!ok) {
                layers.forEach(Layer::close);
            }
        }
    }

    @Override
    public TensorSpec stageInput(int stage, int examples, ParallelLayout layout) {
        return stages(layout).input(stage, examples, layout);
    }

    @Override
    public TensorSpec stageOutput(int stage, int examples, ParallelLayout layout) {
        return stages(layout).output(stage, examples, layout);
    }

    private TokenStages stages(ParallelLayout layout) {
        return new TokenStages(config.seqLen(), config.channels(), config.paddedVocab(layout.tp()));
    }

    @Override
    public ModelLoss loss(LayerContext ctx) {
        return LanguageModelLoss.of(config.vocab(), config.paddedVocab(ctx.tpSize()), ctx);
    }

    /** A sequence's tokens. */
    @Override
    public long tokensPerExample() {
        return config.seqLen();
    }
}
