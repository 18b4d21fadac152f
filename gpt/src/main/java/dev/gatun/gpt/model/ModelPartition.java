package dev.gatun.gpt.model;

import dev.gatun.pipeline.StagePartition;
import dev.gatun.pipeline.StagePartitioner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import dev.gatun.train.LayerContext;
import dev.gatun.train.Layer;

/**
 * Which layers each pipeline stage (model chunk) holds: the transformer blocks are balanced over the {@code stages}
 * by {@link StagePartitioner} (equal costs: every block is the same), the embedding joins stage 0 and the head the
 * last stage, as Megatron places them.
 */
public record ModelPartition(GptConfig config, StagePartition blocks) {
    /** @throws IllegalArgumentException when there are more stages than blocks */
    public static ModelPartition of(GptConfig config, int stages) {
        if (stages < 1 || stages > config.layers()) {
            throw new IllegalArgumentException("the pipeline has " + stages + " stages (pp x virtual stages) but the "
                    + "model has " + config.layers() + " layers: every stage needs at least one, so use pp x "
                    + "virtual stages <= " + config.layers());
        }
        double[] costs = new double[config.layers()];
        Arrays.fill(costs, 1.0);
        return new ModelPartition(config, StagePartitioner.balance(costs, stages));
    }

    /** The number of stages. */
    public int stages() {
        return blocks.stages();
    }

    /**
     * Builds stage {@code stage}'s layers on this rank.
     *
     * @param tiedEmbedding for the last stage, the token embedding when it is on this rank (a 1-stage pipeline with a
     *                      tied head), else null
     */
    public List<Layer> buildLayers(int stage, LayerContext ctx, EmbeddingLayer tiedEmbedding) {
        List<Layer> layers = new ArrayList<>();
        boolean ok = false;
        try {
            if (stage == 0) {
                layers.add(new EmbeddingLayer(config, ctx, config.tiedHead() && stages() > 1));
            }
            int first = blocks.firstLayer(stage);
            for (int i = first; i < first + blocks.layersPerStage().get(stage); i++) {
                layers.add(new TransformerBlock(i, config, ctx));
            }
            if (stage == stages() - 1) {
                EmbeddingLayer emb = stage == 0 ? (EmbeddingLayer) layers.getFirst() : tiedEmbedding;
                layers.add(new LmHead(config, ctx, config.tiedHead() && emb != null ? emb.tokenEmbedding() : null));
            }
            ok = true;
            return layers;
        } finally {
            if (!ok) {
                layers.forEach(Layer::close);
            }
        }
    }
}
