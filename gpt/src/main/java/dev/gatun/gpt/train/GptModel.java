package dev.gatun.gpt.train;

import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.gpt.model.ModelPartition;
import dev.gatun.pipeline.TensorSpec;
import dev.gatun.train.Batch;
import dev.gatun.train.DataSource;
import dev.gatun.train.HostArray;
import dev.gatun.train.LanguageModelLoss;
import dev.gatun.train.Layer;
import dev.gatun.train.LayerContext;
import dev.gatun.train.Model;
import dev.gatun.train.ModelLoss;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.TokenStages;
import dev.gatun.train.TrainOptions;

import java.util.List;
import java.util.Objects;

/**
 * The GPT of {@code config} as a {@link Model} of the training engine: the transformer blocks balanced over the
 * pipeline stages ({@link ModelPartition}), the embedding on stage 0 and the head on the last (a tied head holds a
 * copy of the embedding when they are on different stages), the vocabulary-parallel cross-entropy as its loss. Stage
 * 0 takes int32 token ids {@code [B, T]}, the others activations {@code [B, T, C]} (with sequence parallelism this tp
 * rank's token rows {@code [B·T/tp, C]}); the last gives the logits
 * {@code [B·T, Vp/tp]}; the targets are the next tokens {@code [B, T]}.
 */
public record GptModel(GptConfig config) implements Model {
    public GptModel {
        Objects.requireNonNull(config, "config must not be null");
    }

    /** The model's configuration, e.g. {@code GptConfig[layers=2, heads=4, ...]}. */
    @Override
    public String id() {
        return config.toString();
    }

    @Override
    public void validate(ParallelLayout layout) {
        if (config.heads() % layout.tp() != 0) {
            throw new IllegalArgumentException("--tp " + layout.tp() + " must divide the model's " + config.heads()
                    + " attention heads");
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
        return List.copyOf(ModelPartition.of(config, stages).buildLayers(stage, ctx, null));
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

    /** A GPT batch (token ids and next tokens, {@code [sequences, seqLen]}) as the engine's. */
    public static Batch batch(dev.gatun.gpt.data.Batch b) {
        return new Batch(HostArray.ofInts(b.inputs(), b.sequences(), b.seqLen()),
                HostArray.ofInts(b.targets(), b.sequences(), b.seqLen()));
    }

    /**
     * The data source of {@code data} for this model and {@code options}: step {@code s}'s batch is
     * {@link TokenDataset#globalBatch} of the options' batch of sequences with their seed.
     *
     * @throws IllegalArgumentException when the data holds a token id outside the model's vocabulary
     */
    public DataSource data(TokenDataset data, TrainOptions options) {
        long seed = options.seed();
        int batchSequences = options.batchExamples();
        if (data.maxTokenId() >= config.vocab()) {
            throw new IllegalArgumentException("the data has token id " + data.maxTokenId() + " but the model's "
                    + "vocabulary is " + config.vocab());
        }
        return tokens(data, seed, batchSequences, config.seqLen());
    }

    /**
     * Step {@code s}'s batch of any language model on token data: {@link TokenDataset#globalBatch} of
     * {@code batchSequences} sequences of {@code seqLen} tokens with {@code seed}, as the engine's.
     */
    public static DataSource tokens(TokenDataset data, long seed, int batchSequences, int seqLen) {
        return step -> batch(data.globalBatch(seed, step, batchSequences, seqLen));
    }
}
