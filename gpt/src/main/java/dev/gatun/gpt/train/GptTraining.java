package dev.gatun.gpt.train;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.Checkpointing;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.RankPlacement;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;

import java.util.Objects;
import java.util.function.Consumer;

/**
 * The engine's {@link Training} of a {@link GptModel} on a {@link TokenDataset}: step {@code s} trains on
 * {@link TokenDataset#globalBatch} of the options' batch with their seed. What it adds to the engine is only that
 * binding; placement and checkpointing are the engine's.
 */
public final class GptTraining {
    private final GptModel model;
    private final TrainOptions options;
    private final Training engine;

    /** Training with every rank a thread of this JVM on the CPU backend. */
    public GptTraining(GptConfig config, ParallelLayout layout, TrainOptions options, CommOptions commOptions) {
        this(new Training(new GptModel(config), layout, options, commOptions), options);
    }

    private GptTraining(Training engine, TrainOptions options) {
        this((GptModel) engine.model(), options, engine);
    }

    private GptTraining(GptModel model, TrainOptions options, Training engine) {
        this.model = model;
        this.options = Objects.requireNonNull(options, "options must not be null");
        this.engine = engine;
    }

    /** The same run, saving and resuming as {@code checkpointing} says. */
    public GptTraining withCheckpointing(Checkpointing checkpointing) {
        return new GptTraining(model, options, engine.withCheckpointing(checkpointing));
    }

    /** The same run on the ranks {@code placement} provides. */
    public GptTraining withPlacement(RankPlacement placement) {
        return new GptTraining(model, options, engine.withPlacement(placement));
    }

    /** Where the ranks run. */
    public RankPlacement placement() {
        return engine.placement();
    }

    /** The engine's training this runs. */
    public Training engine() {
        return engine;
    }

    /** Runs {@code steps} steps on {@code data}; {@code onStep} is called by the reporting rank after each step. */
    public Training.Result run(TokenDataset data, long steps, Consumer<StepMetrics> onStep) {
        return run(data, steps, onStep, false);
    }

    /** {@link #run(TokenDataset, long, Consumer)}, collecting the final parameters when {@code collectWeights}. */
    public Training.Result run(TokenDataset data, long steps, Consumer<StepMetrics> onStep, boolean collectWeights) {
        return engine.run(model.data(data, options), steps, onStep, collectWeights);
    }
}
