package dev.gatun.cli;

import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.launch.RendezvousStore;
import dev.gatun.collectives.launch.JobEnvironment;
import dev.gatun.collectives.launch.TorchrunEnvironment;
import dev.gatun.train.checkpoint.CheckpointDirectory;
import dev.gatun.train.Checkpointing;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.data.Tokenizer;
import dev.gatun.gpt.data.Tokenizers;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.cli.report.LineChart;
import dev.gatun.train.Mfu;
import dev.gatun.train.RankPlacement;
import dev.gatun.train.RunLock;
import dev.gatun.train.Training;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.llama.LlamaConfig;
import dev.gatun.train.DataSource;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.Recompute;
import dev.gatun.train.RecomputePlan;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.TrainOptions;
import dev.gatun.ops.cuda.CudaBackendOptions;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.concurrent.Callable;

/**
 * {@code gatun train}: trains the GPT in any dp × tp × pp × ZeRO layout, on the CPU (ranks as threads of this JVM) or
 * on CUDA GPUs (one GPU per rank, NCCL; the ranks are threads of this process, or, under {@code gatun launch} or
 * torchrun's variables, this process is one rank); shows a progress bar with the loss, tokens/s and (on GPUs) MFU,
 * writes metrics and charts into the output directory ({@link TrainOutputs}) and ends with each rank's memory next to
 * the ZeRO formula. Bad layouts or arguments end with one line on stderr and exit code 2.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a GPT-2-style or Llama-style model in a dp x tp x pp x ZeRO layout (CPU: ranks are threads; CUDA: one "
                + "GPU per rank).")
public final class TrainCommand implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "gpt", description = "gpt (GPT-2-style) or llama (Llama-style: RMSNorm, "
            + "rotary embeddings, SwiGLU, grouped-query attention) (default ${DEFAULT-VALUE})")
    String modelName;
    @Option(names = "--preset", defaultValue = "tiny", description = "gpt: tiny or gpt2 (124M); llama: tiny, "
            + "llama3.2-1b or llama3.1-8b (the published shapes) (default ${DEFAULT-VALUE})")
    String preset;
    @Option(names = "--layers", description = "override the preset's layers")
    Integer layers;
    @Option(names = "--heads", description = "override the preset's heads")
    Integer heads;
    @Option(names = "--channels", description = "override the preset's width")
    Integer channels;
    @Option(names = "--seq-len", description = "override the preset's context length")
    Integer seqLen;
    @Option(names = "--untied", description = "give the output head its own weight instead of the token embedding")
    boolean untied;

    @Option(names = "--dp", defaultValue = "1", description = "data-parallel size (default ${DEFAULT-VALUE})")
    int dp;
    @Option(names = "--tp", defaultValue = "1", description = "tensor-parallel size (default ${DEFAULT-VALUE})")
    int tp;
    @Option(names = "--pp", defaultValue = "1", description = "pipeline stages (default ${DEFAULT-VALUE})")
    int pp;
    @Option(names = "--zero", defaultValue = "0", description = "ZeRO stage 0-3 (default ${DEFAULT-VALUE})")
    int zero;
    @Option(names = "--schedule", defaultValue = "1f1b", description = "gpipe, 1f1b, interleaved or zb-h1 (default ${DEFAULT-VALUE})")
    String schedule;
    @Option(names = "--microbatches", defaultValue = "1", description = "micro-batches per step (default ${DEFAULT-VALUE})")
    int microBatches;
    @Option(names = "--virtual-stages", defaultValue = "1", description = "model chunks per pipeline rank, interleaved only (default ${DEFAULT-VALUE})")
    int virtualStages;

    @Option(names = "--sequence-parallel", description = "with --tp > 1, split the LayerNorms and the residual stream "
            + "over the tp group along the tokens (Megatron's sequence parallelism)")
    boolean sequenceParallel;

    @Option(names = "--recompute", defaultValue = "none", description = "activation recomputation: none, selective "
            + "(the attention core again in the backward) or full (each block's forward again) (default ${DEFAULT-VALUE})")
    String recompute;

    @Option(names = "--precision", defaultValue = "fp32", description = "fp32, bf16 or fp16 (default ${DEFAULT-VALUE})")
    String precision;
    @Option(names = "--device", defaultValue = "cpu", description = "cpu (default) or cuda: one GPU per rank, the "
            + "ranks threads of this process, or this process one rank under gatun launch / torchrun's variables")
    String device;
    @Option(names = "--backend", description = "on the CPU: threads (every rank a thread of this process) or mpi "
            + "(this process one rank of an mpirun/srun job); default: mpi under mpirun or srun, else threads")
    String backend;
    @Option(names = "--tf32", description = "on CUDA, let fp32 GEMMs use TF32 tensor cores")
    boolean tf32;
    @Option(names = "--peak-tflops", description = "one GPU's peak TFLOP/s for MFU (default: from the device, for "
            + "sm_80 and sm_90)")
    Double peakTflops;
    @Option(names = "--steps", defaultValue = "150", description = "training steps (default ${DEFAULT-VALUE})")
    long steps;
    @Option(names = "--batch", defaultValue = "16", description = "sequences per step over all dp ranks (default ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--lr", defaultValue = "1e-3", description = "peak learning rate (default ${DEFAULT-VALUE})")
    double lr;
    @Option(names = "--min-lr", defaultValue = "3e-4", description = "final learning rate of the cosine decay (default ${DEFAULT-VALUE})")
    double minLr;
    @Option(names = "--warmup", description = "warm-up steps (default: 10, or --steps if fewer)")
    Long warmup;
    @Option(names = "--clip", defaultValue = "1.0", description = "gradient-norm clipping threshold (default ${DEFAULT-VALUE})")
    float clip;
    @Option(names = "--weight-decay", defaultValue = "0.0", description = "AdamW weight decay (default ${DEFAULT-VALUE})")
    float weightDecay;
    @Option(names = "--data", description = "a text file to train on (default: a generated arithmetic corpus)")
    Path data;
    @Option(names = "--tokenizer", description = "bytes or gpt2 (default: bytes for tiny, gpt2 for gpt2)")
    String tokenizer;
    @Option(names = "--seed", defaultValue = "1337", description = "initialisation and data seed (default ${DEFAULT-VALUE})")
    long seed;
    @Option(names = "--out", defaultValue = "runs/train", description = "output directory (default ${DEFAULT-VALUE})")
    Path out;
    @Option(names = "--save-every", defaultValue = "0",
            description = "save a checkpoint every N steps into OUT/checkpoints (default 0: never)")
    long saveEvery;
    @Option(names = "--keep", defaultValue = "2", description = "checkpoints to keep (default ${DEFAULT-VALUE})")
    int keep;
    @Option(names = "--resume", description = "continue from a checkpoint: a run's --out folder or its checkpoints "
            + "folder (the newest verified checkpoint), or one step-N folder; any layout of the same model")
    Path resume;
    @Option(names = "--overwrite", description = "delete the checkpoints of other runs found in OUT/checkpoints "
            + "instead of refusing to start")
    boolean overwrite;
    @Option(names = "--init-hf", description = "start from a Hugging Face safetensors file of the model (GPT-2 or Llama names; the same shape)")
    Path initHf;
    @Option(names = "--export-hf", description = "at the end, write the model as a Hugging Face safetensors file (GPT-2 or Llama names)")
    Path exportHf;
    @Option(names = "--loss-axis", defaultValue = "linear", description = "loss.svg's y axis: linear or log (a spike "
            + "does not flatten the curve) (default ${DEFAULT-VALUE})")
    String lossAxis;
    @Option(names = "--no-memory-check", description = "start even when the estimated memory exceeds what the "
            + "machine (CPU) or a GPU has free")
    boolean noMemoryCheck;
    @Option(names = "--timeout", defaultValue = "5m", converter = DurationConverter.class,
            description = "collective timeout (default ${DEFAULT-VALUE})")
    Duration timeout;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Setup setup;
        try {
            setup = setup();
        } catch (IllegalArgumentException e) {
            err.println("gatun train: " + e.getMessage());
            err.flush();
            return 2;
        }
        boolean leader = setup.locks; // a multi-process job's rank 0 (or a process on its own) describes the run
        if (leader) {
            out.println("model   " + setup.spec.describe(preset, setup.layout.tp()));
        }
        out.printf(Locale.ROOT, "layout  %s, %s, %s%s%n", setup.layout, setup.placement.describe(
                setup.layout.worldSize()), setup.options.policy().name(),
                setup.options.recompute().equals(RecomputePlan.NONE) ? ""
                        : ", recompute " + setup.options.recompute());
        if (leader) {
            out.printf(Locale.ROOT, "data    %s: %,d tokens (%s); batch %d x %d tokens%n", setup.dataName,
                    setup.dataset.size(), setup.tokenizerName, batch, setup.spec.seqLen());
            out.println("memory  " + setup.memory.describe() + (setup.memory.fits() ? ""
                    : "; over the limit, started with --no-memory-check"));
            out.flush();
            setup.resumed.ifPresent(found -> describeResume(out, found, setup));
        }
        out.flush();
        RunLock lock;
        try {
            lock = setup.locks ? RunLock.acquire(this.out) : null;
        } catch (IllegalStateException e) {
            err.println("gatun train: " + e.getMessage());
            err.flush();
            return 2;
        }
        try {
            if (lock != null) {
                lock.replacedStaleOwner().ifPresent(o -> out.println("lock    took over the stale lock of " + o));
            }
            for (long step : setup.locks ? setup.otherRuns : List.<Long>of()) { // --overwrite; one process deletes
                setup.saveTo.delete(step);
                out.println("removed " + setup.saveTo.stepDirectory(step) + " (another run's, --overwrite)");
            }
            return train(setup, out);
        } finally {
            if (lock != null) {
                lock.close();
            }
        }
    }

    private void describeResume(PrintWriter out, CheckpointDirectory.Found found, Setup setup) {
        for (String rejected : found.rejected()) {
            out.println("resume  skipped a newer checkpoint that fails verification: " + rejected);
        }
        var info = found.info();
        out.printf(Locale.ROOT, "resume  %s: step %d, saved in %s (%d rank%s)%s%n", info.directory(), info.step(),
                info.layout(), info.worldSize(), info.worldSize() == 1 ? "" : "s",
                info.layout().equals(setup.layout.toString()) ? ""
                        : "; resharded into this run's layout");
        String saved = info.extra().get(Training.TOTAL_STEPS);
        if (saved != null && !saved.equals(Long.toString(steps)) && steps > info.step()) {
            long total = Long.parseLong(saved);
            var schedule = setup.options.learningRate();
            double before = new LearningRateSchedule(lr, minLr, schedule.warmupSteps(), total).at(info.step());
            double now = schedule.at(info.step());
            out.printf(Locale.ROOT, "resume  the checkpoint's learning-rate schedule decays over %d steps; this run "
                    + "stretches the same cosine over %d steps, so at step %d the learning rate is %.3g (it was "
                    + "%.3g) and reaches %.3g at step %d%n", total, steps, info.step(), now, before, minLr, steps);
        }
    }

    private Integer train(Setup setup, PrintWriter out) {
        Training.Result result;
        boolean console = System.console() != null;
        long every = Math.max(1, steps / 10);
        try (ProgressBar bar = progressBar(console)) {
            var training = new Training(setup.spec.model(), setup.layout, setup.options,
                    CommOptions.DEFAULT.withTimeout(timeout)).withPlacement(setup.placement);
            if (saveEvery > 0 || setup.resumed.isPresent()) {
                training = training.withCheckpointing(new Checkpointing(setup.saveTo, saveEvery,
                        setup.resumed.orElse(null)));
            }
            DataSource data = GptModel.tokens(setup.dataset, setup.options.seed(), setup.options.batchExamples(),
                    setup.spec.seqLen());
            result = training.run(data, steps, m -> {
                        String line = String.format(Locale.ROOT, "loss %.4f  %,.0f tok/s", m.loss(),
                                m.tokensPerSecond()) + setup.mfu.map(u -> String.format(Locale.ROOT, "  MFU %.1f%%",
                                100 * u.at(m.tokensPerSecond()))).orElse("");
                        bar.step();
                        bar.setExtraMessage(" " + line);
                        if (!console && (m.step() % every == 0 || m.step() == steps - 1)) {
                            out.printf(Locale.ROOT, "step %5d/%d  %s%s%n", m.step() + 1, steps, line,
                                    m.applied() ? "" : "  (skipped: non-finite gradients)");
                            out.flush();
                        }
                    }, exportHf != null);
        } // bad input found once the ranks run (e.g. a checkpoint) ends in one line and exit 2 by CliErrors
        if (!result.reporter()) {
            out.println("done: this process's ranks finished; the process of the last stage's dp 0, tp 0 rank reports");
            out.flush();
            return 0;
        }
        if (result.steps().isEmpty()) {
            out.println("nothing to train: the checkpoint is already at step " + steps);
            out.flush();
            return 0;
        }
        var outputs = new java.util.ArrayList<>(TrainOutputs.write(this.out, setup.layout,
                setup.options.recompute(), result, setup.mfu, setup.lossAxis));
        if (exportHf != null) {
            setup.spec.exportHuggingFace(result.weights(), exportHf);
            outputs.add(exportHf);
        }
        var summary = new TrainSummary(setup.spec, setup.layout, result, setup.mfu);
        summary.print(out);
        out.println("wrote");
        outputs.forEach(p -> out.println("  " + p));
        out.flush();
        return 0;
    }

    /** On a terminal a live bar on stderr; otherwise none (a line per tenth of the run is printed instead). */
    private ProgressBar progressBar(boolean console) {
        var builder = new ProgressBarBuilder().setTaskName("train").setInitialMax(steps)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(250);
        if (!console) {
            builder.setConsumer(new DelegatingProgressBarConsumer(line -> { }, 100));
        }
        return builder.build();
    }

    private record Setup(ModelSpec spec, ParallelLayout layout, TrainOptions options, TokenDataset dataset,
                         String dataName, String tokenizerName, RankPlacement placement, Optional<Mfu> mfu,
                         Optional<CheckpointDirectory.Found> resumed, CheckpointDirectory saveTo, List<Long> otherRuns,
                         boolean locks, LineChart.Scale lossAxis, MemoryFit memory) {
    }

    /** CPU threads, or GPUs: this process one rank under torchrun's variables, else one thread per local GPU. */
    private RankPlacement placement() {
        if (peakTflops != null && !(peakTflops > 0)) {
            throw new IllegalArgumentException("--peak-tflops must be > 0, got " + peakTflops);
        }
        switch (device.toLowerCase(Locale.ROOT)) {
            case "cpu" -> {
                if (tf32) {
                    throw new IllegalArgumentException("--tf32 is for --device cuda");
                }
                Optional<JobEnvironment> job = JobEnvironment.mpiFromSystem();
                String chosen = backend != null ? backend.toLowerCase(Locale.ROOT) : job.isPresent() ? "mpi"
                        : "threads";
                if (chosen.equals("mpi")) {
                    if (job.isEmpty()) {
                        throw new IllegalArgumentException("--backend mpi runs one rank per process of an MPI job: "
                                + "start it with mpirun -np N (or srun -n N) gatun train ..."
                                + JobEnvironment.fromSystem().map(j -> " (this process was started by "
                                + j.launcher() + ")").orElse(""));
                    }
                    if (exportHf != null) {
                        throw new IllegalArgumentException("--export-hf needs every rank in one process; under "
                                + "mpirun save checkpoints (--save-every) instead");
                    }
                    return RankPlacement.mpiProcess(job.get());
                }
                if (!chosen.equals("threads")) {
                    throw new IllegalArgumentException("unknown --backend '" + backend + "': use threads or mpi");
                }
                if (job.isPresent() && job.get().worldSize() > 1) {
                    throw new IllegalArgumentException("--backend threads runs every rank as a thread of one process, "
                            + "so under " + job.get().launcher() + " (" + job.get().worldSize() + " processes) each "
                            + "process would run the whole job: use --backend mpi, or run train without mpirun");
                }
                if (TorchrunEnvironment.isPresent(System.getenv()) && TorchrunEnvironment.fromSystem().worldSize() > 1) {
                    throw new IllegalArgumentException("--device cpu runs every rank as a thread of one process, so "
                            + "under gatun launch or torchrun (WORLD_SIZE=" + TorchrunEnvironment.fromSystem()
                            .worldSize() + ") each process would run the whole job: run train without launch (--dp, "
                            + "--tp and --pp make the ranks) or use --device cuda");
                }
                return RankPlacement.cpuThreads();
            }
            case "cuda" -> {
                if (backend != null) {
                    throw new IllegalArgumentException("--backend is for --device cpu (CUDA ranks use NCCL)");
                }
                var options = CudaBackendOptions.DEFAULT.withTf32(tf32);
                Optional<JobEnvironment> mpiJob = JobEnvironment.mpiFromSystem();
                if (mpiJob.isPresent()) {
                    if (exportHf != null) {
                        throw new IllegalArgumentException("--export-hf needs every rank in one process; under "
                                + "mpirun save checkpoints (--save-every) instead");
                    }
                    return RankPlacement.mpiGpuProcess(mpiJob.get(), options);
                }
                if (!TorchrunEnvironment.isPresent(System.getenv())) {
                    return RankPlacement.localGpus(options);
                }
                if (exportHf != null) {
                    throw new IllegalArgumentException("--export-hf needs every rank in one process; under gatun "
                            + "launch / torchrun save checkpoints (--save-every) instead");
                }
                TorchrunEnvironment env = TorchrunEnvironment.fromSystem();
                RendezvousStore.exposureWarning(env).ifPresent(w -> {
                    spec.commandLine().getErr().println("gatun train: warning: " + w);
                    spec.commandLine().getErr().flush();
                });
                return RankPlacement.torchrunProcess(env, timeout, options);
            }
            default -> throw new IllegalArgumentException("unknown --device '" + device + "': use cpu or cuda");
        }
    }

    /** The model of {@code --model} and {@code --preset}, the preset's shape overridden by --layers, --heads, ... */
    private ModelSpec spec(Tokenizer t) {
        switch (modelName.toLowerCase(Locale.ROOT)) {
            case "gpt" -> {
                GptConfig base = switch (preset) {
                    case "tiny" -> GptConfig.tiny(t.vocabSize());
                    case "gpt2" -> GptConfig.gpt2Small();
                    default -> throw new IllegalArgumentException("unknown --preset '" + preset + "': use tiny or gpt2"
                            + " (llama3.2-1b and llama3.1-8b are --model llama's)");
                };
                return new ModelSpec.Gpt(new GptConfig(layers != null ? layers : base.layers(),
                        heads != null ? heads : base.heads(), channels != null ? channels : base.channels(),
                        seqLen != null ? seqLen : base.seqLen(), t.vocabSize(), !untied));
            }
            case "llama" -> {
                int len = seqLen != null ? seqLen : 64;
                LlamaConfig base = switch (preset) {
                    case "tiny" -> LlamaConfig.tiny(t.vocabSize());
                    case "llama3.2-1b" -> LlamaConfig.llama32_1b(len);
                    case "llama3.1-8b" -> LlamaConfig.llama31_8b(len);
                    default -> throw new IllegalArgumentException("unknown --preset '" + preset + "' for --model "
                            + "llama: use tiny, llama3.2-1b or llama3.1-8b");
                };
                boolean published = !preset.equals("tiny");
                return new ModelSpec.Llama(new LlamaConfig(layers != null ? layers : base.layers(),
                        heads != null ? heads : base.heads(), base.kvHeads(),
                        channels != null ? channels : base.channels(), base.hidden(),
                        seqLen != null ? seqLen : base.seqLen(), published ? base.vocab() : t.vocabSize(),
                        !untied && base.tiedHead(), base.ropeTheta(), base.ropeScaling(), base.normEps()));
            }
            default -> throw new IllegalArgumentException("unknown --model '" + modelName + "': use gpt or llama");
        }
    }

    private Setup setup() {
        RankPlacement placement = placement();
        if (resume != null && initHf != null) {
            throw new IllegalArgumentException("--resume and --init-hf both say where the weights come from: pass one");
        }
        if (keep < 1 || saveEvery < 0) {
            throw new IllegalArgumentException("--keep must be >= 1 and --save-every >= 0");
        }
        if (steps < 1) {
            throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
        }
        String tok = tokenizer != null ? tokenizer : preset.equals("gpt2") ? "gpt2" : "bytes";
        Tokenizer t = Tokenizers.byName(tok);
        ModelSpec spec = spec(t);
        if (zero < 0 || zero > 3) {
            throw new IllegalArgumentException("--zero must be 0, 1, 2 or 3, got " + zero);
        }
        var layout = new ParallelLayout(dp, tp, pp, ZeroStage.values()[zero], ScheduleKind.byName(schedule),
                microBatches, virtualStages, sequenceParallel);
        layout.validate(spec.model(), batch);
        PrecisionPolicy policy = switch (precision.toLowerCase(Locale.ROOT)) {
            case "fp32" -> PrecisionPolicy.FP32;
            case "bf16" -> PrecisionPolicy.BF16_MIXED;
            case "fp16" -> PrecisionPolicy.FP16_MIXED;
            default -> throw new IllegalArgumentException("unknown --precision '" + precision
                    + "': use fp32, bf16 or fp16");
        };
        RecomputePlan recomputePlan;
        try {
            recomputePlan = RecomputePlan.all(Recompute.parse(recompute));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown --recompute '" + recompute + "': use none, selective or full");
        }
        placement.check(layout.worldSize());
        MemoryFit memory = spec.memory(layout, policy, batch, recomputePlan, placement.memoryLimit(layout.worldSize()));
        if (!noMemoryCheck) {
            memory.refusal().ifPresent(why -> {
                throw new IllegalArgumentException(why + " (--no-memory-check runs it anyway)");
            });
        }
        Optional<CheckpointDirectory.Found> resumed = Optional.empty();
        if (resume != null) {
            try {
                resumed = Optional.of(CheckpointDirectory.locate(resume));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--resume " + resume + ": " + e.getMessage());
            }
        }
        String savedWarmup = resumed.map(f -> f.info().extra().get(Training.WARMUP_STEPS)).orElse(null);
        long warmupSteps = warmup != null ? warmup : savedWarmup != null ? Long.parseLong(savedWarmup)
                : Math.min(10, steps);
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("--lr " + lr + " must be finite and > 0");
        }
        if (!(minLr >= 0 && minLr <= lr)) {
            throw new IllegalArgumentException("--min-lr " + minLr + " must be in [0, --lr " + lr + "]");
        }
        if (warmupSteps < 0 || warmupSteps > steps) {
            throw new IllegalArgumentException((warmup != null ? "--warmup " + warmupSteps : "the checkpoint's warm-up of "
                    + warmupSteps + " steps") + " must be in [0, --steps " + steps + "]");
        }
        var options = new TrainOptions(policy, new LearningRateSchedule(lr, minLr, warmupSteps, steps), clip,
                weightDecay, seed, batch, initHf != null ? spec.readHuggingFace(initHf) : null, recomputePlan);
        TokenDataset dataset = data != null ? TokenDataset.fromFile(data, t)
                : TokenDataset.fromText(ArithmeticCorpus.generate(seed, 20_000), t);
        if (dataset.size() < spec.seqLen() + 1) {
            throw new IllegalArgumentException("the data has " + dataset.size() + " tokens, fewer than one sequence of "
                    + (spec.seqLen() + 1) + ": use a larger --data file or a smaller --seq-len");
        }
        if (dataset.maxTokenId() >= spec.vocab()) {
            throw new IllegalArgumentException("the data has token id " + dataset.maxTokenId() + " but the model's "
                    + "vocabulary is " + spec.vocab());
        }
        OutputPaths.checkFolder("--out", out);
        CheckpointDirectory saveTo = new CheckpointDirectory(out.resolve("checkpoints"), keep);
        List<Long> otherRuns = List.of();
        if (saveEvery > 0) {
            OutputPaths.checkFolder("--save-every's folder", saveTo.root());
            String continuing = resumed.map(f -> f.info().runId()).orElse("");
            otherRuns = saveTo.committedSteps().stream()
                    .filter(st -> continuing.isEmpty() || !continuing.equals(saveTo.runIdOf(st))).toList();
            if (!otherRuns.isEmpty() && !overwrite) {
                throw new IllegalArgumentException("--out " + out + " holds checkpoints of another run ("
                        + saveTo.stepDirectory(otherRuns.getLast()).getFileName() + (otherRuns.size() > 1 ? " and "
                        + (otherRuns.size() - 1) + " more" : "") + "), which this run's saves could mix with or "
                        + "prune: --resume " + out + " continues that run, --overwrite deletes them, or choose another "
                        + "--out");
            }
        }
        if (exportHf != null) {
            OutputPaths.checkFile("--export-hf", exportHf);
        }
        boolean locks = JobEnvironment.fromSystem().map(j -> j.rank() == 0).orElse(true);
        OptionalDouble peak = peakTflops != null ? OptionalDouble.of(peakTflops * 1e12) : placement.peakFlopsPerRank();
        Optional<Mfu> mfu = peak.isPresent()
                ? Optional.of(new Mfu(spec.flopsPerToken(), peak.getAsDouble(), layout.worldSize()))
                : Optional.empty();
        return new Setup(spec, layout, options, dataset, data != null ? data.toString() : "generated arithmetic",
                t.name(), placement, mfu, resumed, saveTo, otherRuns, locks, LineChart.Scale.parse(lossAxis),
                memory);
    }
}
