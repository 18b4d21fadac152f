package dev.gatun.train;

import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.MeshGroups;
import dev.gatun.collectives.Communicator;
import dev.gatun.train.checkpoint.CheckpointDirectory;
import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.pipeline.PipelineExecutor;
import dev.gatun.pipeline.PipelineResult;
import dev.gatun.pipeline.Timeline;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Trains a {@link Model} in a dp × tp × pp × ZeRO layout on the ranks a {@link RankPlacement} provides: by default every rank a
 * thread of this JVM on the CPU backend (in-process communicators), the way every layout runs on one machine and the
 * reference the layouts are compared against; or one GPU per rank with NCCL, as threads of this process or as the
 * processes of a torchrun-style job.
 */
public final class Training {
    /** The extra key of a checkpoint's schedule length: a resumed run may be longer. */
    public static final String TOTAL_STEPS = "total_steps";
    /** The extra key of a checkpoint's warm-up steps: a resumed run keeps them. */
    public static final String WARMUP_STEPS = "warmup_steps";
    /**
     * The run's steps (as the reporting rank saw them), the memory of each rank this process ran, the pipeline schedule
     * run and the last step's measured pipeline timeline (the pipeline of dp 0, tp 0; milliseconds; null when this
     * process did not run all its stages), the final full parameters when asked for, and whether this process ran the
     * reporting rank (always, except in the other processes of a multi-process job).
     */
    public record Result(List<StepMetrics> steps, List<RankSummary> ranks, PipelineExecutor executor,
                         Timeline measuredTimeline, ModelWeights weights, boolean reporter) {
    }

    private final Model model;
    private final ParallelLayout layout;
    private final TrainOptions options;
    private final CommOptions commOptions;
    private final Checkpointing checkpointing;
    private final RankPlacement placement;

    /** Training with every rank a thread of this JVM on the CPU backend. */
    public Training(Model model, ParallelLayout layout, TrainOptions options, CommOptions commOptions) {
        this(model, layout, options, commOptions, null, RankPlacement.cpuThreads());
    }

    private Training(Model model, ParallelLayout layout, TrainOptions options, CommOptions commOptions,
                     Checkpointing checkpointing, RankPlacement placement) {
        this.checkpointing = checkpointing;
        this.placement = Objects.requireNonNull(placement, "placement must not be null");
        this.model = Objects.requireNonNull(model, "model must not be null");
        this.layout = Objects.requireNonNull(layout, "layout must not be null");
        this.options = Objects.requireNonNull(options, "options must not be null");
        this.commOptions = Objects.requireNonNull(commOptions, "commOptions must not be null");
        layout.validate(model, options.batchExamples());
    }

    /** The same run, saving and resuming as {@code checkpointing} says. */
    public Training withCheckpointing(Checkpointing newCheckpointing) {
        return new Training(model, layout, options, commOptions, newCheckpointing, placement);
    }

    /** The same run on the ranks {@code newPlacement} provides. */
    public Training withPlacement(RankPlacement newPlacement) {
        return new Training(model, layout, options, commOptions, checkpointing, newPlacement);
    }

    /** Where the ranks run. */
    public RankPlacement placement() {
        return placement;
    }

    /** The model trained. */
    public Model model() {
        return model;
    }

    /**
     * Runs {@code steps} steps on {@code data} (each dp rank taking its {@link Batch#shard} of every step's global
     * batch); {@code onStep} is called by the reporting rank after each step.
     */
    public Result run(DataSource data, long steps, Consumer<StepMetrics> onStep) {
        return run(data, steps, onStep, false);
    }

    /** Every rank writes its file; once all have, rank 0 commits the checkpoint. */
    private void save(RankTrainer trainer, Communicator world, long nextStep) {
        CheckpointDirectory dir = checkpointing.directory();
        trainer.saveState(dir.rankFile(nextStep, world.rank()), nextStep);
        world.barrier();
        if (world.rank() == 0) {
            Map<String, String> extra = new java.util.LinkedHashMap<>(settings());
            extra.put(TOTAL_STEPS, Long.toString(options.learningRate().totalSteps()));
            dir.commit(nextStep, world.size(), layout.toString(), model.id(), checkpointing.runId(), extra);
        }
        world.barrier();
    }

    /**
     * What a checkpoint records of the run besides model and layout, that a resume must have the same: the
     * learning-rate schedule without its length ({@value #TOTAL_STEPS}, recorded apart), so a resumed run may be
     * longer.
     */
    private Map<String, String> settings() {
        var lr = options.learningRate();
        return Map.of("seed", Long.toString(options.seed()), "batch", Integer.toString(options.batchExamples()),
                "learning_rate", "peak " + lr.maxLr() + ", min " + lr.minLr(),
                WARMUP_STEPS, Long.toString(lr.warmupSteps()), "precision", options.policy().name());
    }

    /**
     * The checkpoint to resume from, checked against this run, or null when there is none.
     *
     * @throws IllegalArgumentException when it is of another model or settings
     */
    private CheckpointDirectory.Info resumePoint() {
        if (checkpointing.resumeFrom() == null) {
            return null;
        }
        var info = checkpointing.resumeFrom().info();
        if (!info.model().equals(model.id())) {
            throw new IllegalArgumentException("the checkpoint " + info.directory() + " is of the model "
                    + info.model() + ", not " + model.id());
        }
        for (var e : settings().entrySet()) {
            if (!e.getValue().equals(info.extra().get(e.getKey()))) {
                throw new IllegalArgumentException("the checkpoint " + info.directory() + " was saved "
                        + "with " + e.getKey() + " " + info.extra().get(e.getKey()) + ", this run has " + e.getValue()
                        + ": resume with the same settings");
            }
        }
        return info;
    }

    /** Restores checkpoint {@code info} into this rank (resharding when the layout differs); returns its step. */
    private long restore(RankTrainer trainer, Communicator world, CheckpointDirectory.Info info) {
        if (info.layout().equals(layout.toString()) && info.worldSize() == world.size()) {
            trainer.restoreState(info.rankFile(world.rank()));
        } else {
            List<java.nio.file.Path> files = new java.util.ArrayList<>();
            for (int r = 0; r < info.worldSize(); r++) {
                files.add(info.rankFile(r));
            }
            trainer.restoreResharded(files);
        }
        return info.step();
    }

    /** {@link #run(DataSource, long, Consumer)}, collecting the final parameters when {@code collectWeights}. */
    public Result run(DataSource data, long steps, Consumer<StepMetrics> onStep, boolean collectWeights) {
        Objects.requireNonNull(data, "data must not be null");
        var mesh = layout.mesh();
        List<StepMetrics> reported = new ArrayList<>();
        PipelineExecutor[] executor = new PipelineExecutor[1];
        PipelineResult[] lastPipeline = new PipelineResult[layout.pp()];
        ModelWeights weights = collectWeights ? new ModelWeights() : null;
        CheckpointDirectory.Info resumeFrom = checkpointing != null ? resumePoint() : null;
        boolean[] reporter = new boolean[1];
        List<RankSummary> ranks = placement.run(layout.worldSize(), commOptions, rank -> {
            Communicator world = rank.world();
            try (MeshGroups groups = mesh.groups(world)) {
                var c = groups.coordinates();
                try (RankTrainer trainer = new RankTrainer(model, layout, options, groups, rank.backend(),
                        rank.allocator())) {
                    boolean reports = trainer.holdsLastStage() && c.dp() == 0 && c.tp() == 0;
                    synchronized (executor) {
                        if (executor[0] == null) {
                            executor[0] = trainer.executor();
                        }
                        reporter[0] |= reports;
                    }
                    long first = resumeFrom == null ? 0 : restore(trainer, world, resumeFrom);
                    for (long s = first; s < steps; s++) {
                        long start = System.nanoTime();
                        Batch global = data.batch(s);
                        if (global.examples() != options.batchExamples()) {
                            throw new IllegalArgumentException("the data source gave " + global.examples()
                                    + " examples for step " + s + "; the batch is " + options.batchExamples());
                        }
                        RankTrainer.RankStep r = trainer.step(s, global.shard(c.dp(), layout.dp()));
                        if (c.dp() == 0 && c.tp() == 0) {
                            lastPipeline[c.pp()] = r.pipeline();
                        }
                        if (checkpointing != null && checkpointing.saveEvery() > 0
                                && (s + 1) % checkpointing.saveEvery() == 0) {
                            save(trainer, world, s + 1);
                        }
                        if (reports) {
                            var u = r.update();
                            var m = new StepMetrics(s, r.loss().orElseThrow(), r.learningRate(), u.gradNorm(),
                                    u.applied(), u.lossScale(), global.examples() * model.tokensPerExample(),
                                    (System.nanoTime() - start) / 1e9);
                            synchronized (reported) {
                                reported.add(m);
                            }
                            onStep.accept(m);
                        }
                    }
                    var summary = new RankSummary(world.rank(), c, trainer.memoryReport(),
                            trainer.formulaModelStateBytes());
                    if (weights != null) {
                        trainer.contributeWeights(weights);
                    }
                    return summary;
                }
            }
        });
        Timeline measured = java.util.Arrays.stream(lastPipeline).anyMatch(Objects::isNull) ? null
                : PipelineResult.measuredTimeline(executor[0].timeline(), List.of(lastPipeline));
        return new Result(List.copyOf(reported), ranks, executor[0], measured, weights, reporter[0]);
    }
}
