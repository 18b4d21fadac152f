package dev.gatun.cli;

import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.launch.JobEnvironment;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.Mfu;
import dev.gatun.train.RankPlacement;
import dev.gatun.train.Training;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.gpt.train.GptTraining;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.ops.cuda.CudaBackendOptions;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;
import java.util.concurrent.Callable;

/**
 * {@code gatun bench train}: training throughput of the tiny model ({@link GptConfig#tiny}) or GPT-2 124M (byte tokens
 * of the arithmetic corpus, fp32, no ZeRO, one micro-batch) with N ranks, for each N of {@code --ranks}: on the CPU
 * backend the ranks are threads sharing this machine's cores; on CUDA each is a GPU of this machine (NCCL), and MFU is
 * printed against the GPUs' peak. {@code --mode dp} is weak scaling ({@value #SEQUENCES_PER_RANK} sequences per rank, so the global
 * batch grows with N); {@code --mode tp} is strong scaling (a global batch of {@value #SEQUENCES_PER_RANK} sequences
 * split over N tensor-parallel ranks). Per N: tokens/s = tokens / seconds over the steps after {@code --warmup},
 * speed-up = tokens/s ÷ tokens/s of the first N, efficiency = speed-up · N₀ / N. The ranks share this machine's cores,
 * so beyond as many ranks as cores the efficiency is bounded by cores / N.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Training throughput and its scaling over N ranks: CPU threads, or GPUs of this machine.")
final class TrainBenchCommand implements Callable<Integer> {
    /** Sequences per step per data-parallel rank (dp), or per step in all (tp). */
    static final int SEQUENCES_PER_RANK = 8;
    private static final long SEED = 42;
    private static final int CORPUS_LINES = 2000;

    /** How N ranks split the work: the layout and the global batch of each N. */
    enum Mode {
        /** Data parallel, weak scaling: {@value #SEQUENCES_PER_RANK} sequences per rank. */
        DP,
        /** Tensor parallel, strong scaling: {@value #SEQUENCES_PER_RANK} sequences in all. */
        TP;

        static Mode parse(String name) {
            return switch (name.strip().toLowerCase(Locale.ROOT)) {
                case "dp" -> DP;
                case "tp" -> TP;
                default -> null;
            };
        }

        ParallelLayout layout(int n) {
            return new ParallelLayout(this == DP ? n : 1, this == TP ? n : 1, 1, ZeroStage.NONE,
                    ScheduleKind.ONE_F_ONE_B, 1, 1);
        }

        int batchSequences(int n) {
            return this == DP ? SEQUENCES_PER_RANK * n : SEQUENCES_PER_RANK;
        }
    }

    /** One N's measurement: the layout run, its global batch, and the timed steps' count, tokens and seconds. */
    record Row(ParallelLayout layout, int batchSequences, int steps, long tokens, double seconds) {
        int ranks() {
            return layout.worldSize();
        }

        double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    @Option(names = "--ranks", defaultValue = "1,2,4", split = ",",
            description = "rank counts N to run, e.g. 1,2,4 (default ${DEFAULT-VALUE})")
    List<Integer> ranks;

    @Option(names = "--mode", defaultValue = "dp",
            description = "dp (data parallel, 8 sequences per rank) or tp (tensor parallel, 8 in all) "
                    + "(default ${DEFAULT-VALUE})")
    String mode;

    @Option(names = "--steps", defaultValue = "3", description = "timed steps per N (default ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--warmup", defaultValue = "5", description = "untimed steps first (default ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--preset", defaultValue = "tiny", description = "tiny or gpt2 (124M) (default ${DEFAULT-VALUE})")
    String preset;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu (ranks are threads), mpi (one process per "
            + "rank on the CPU: an mpirun -np N job per N) or cuda (one GPU per rank, NCCL) (default ${DEFAULT-VALUE})")
    String backend;

    @Option(names = "--tf32", description = "on CUDA, let fp32 GEMMs use TF32 tensor cores")
    boolean tf32;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        GptConfig config = preset.equalsIgnoreCase("gpt2") ? GptConfig.gpt2Small()
                : GptConfig.tiny(ByteTokenizer.VOCAB_SIZE);
        Mode m = Mode.parse(mode);
        List<ParallelLayout> layouts = new ArrayList<>();
        String problem = problem(m);
        if (problem == null && backend.equalsIgnoreCase("mpi")) {
            return mpi(out, config, m);
        }
        RankPlacement placement = backend.equalsIgnoreCase("cuda")
                ? RankPlacement.localGpus(CudaBackendOptions.DEFAULT.withTf32(tf32)) : RankPlacement.cpuThreads();
        for (int i = 0; problem == null && i < ranks.size(); i++) {
            int n = ranks.get(i);
            ParallelLayout layout = m.layout(n);
            try {
                layout.validate(new GptModel(config), m.batchSequences(n));
                placement.check(n);
                var memory = new MemoryCheck(config, layout, PrecisionPolicy.FP32, m.batchSequences(n),
                        placement.memoryLimit(n));
                if (!memory.fits()) {
                    throw new IllegalArgumentException(memory.shortfall() + ": use fewer --ranks or the tiny preset");
                }
                layouts.add(layout);
            } catch (IllegalArgumentException e) {
                problem = "--mode " + mode + " with " + n + " ranks: " + e.getMessage();
            }
        }
        if (problem != null) {
            PrintWriter err = spec.commandLine().getErr();
            err.println("gatun bench train: " + problem);
            err.flush();
            return CommandLine.ExitCode.USAGE;
        }
        int cores = Runtime.getRuntime().availableProcessors();
        OptionalDouble peak = placement.peakFlopsPerRank();
        out.printf(Locale.ROOT, "# training throughput, %s; model %s: %d layers, %d heads, %d wide, %d tokens of "
                + "context; fp32, no ZeRO, 1 micro-batch%n", backend.equalsIgnoreCase("cuda")
                ? "CUDA backend, one GPU per rank (NCCL)" + (tf32 ? ", TF32 GEMMs" : "")
                + (peak.isPresent() ? String.format(Locale.ROOT, ", peak %.1f TFLOP/s per GPU", peak.getAsDouble()
                / 1e12) : "") : "CPU backend, in-process ranks (threads)", preset, config.layers(), config.heads(),
                config.channels(), config.seqLen());
        out.printf(Locale.ROOT, "# %s; %d warm-up + %d timed steps per N%n", m == Mode.DP
                ? "dp, weak scaling: " + SEQUENCES_PER_RANK + " sequences per rank"
                : "tp, strong scaling: " + SEQUENCES_PER_RANK + " sequences in all", warmup, steps);
        if (!backend.equalsIgnoreCase("cuda")) {
            out.printf(Locale.ROOT, "# %d cores: beyond %d ranks the efficiency is bounded by cores / N%n", cores,
                    cores);
        }
        out.printf("%6s %-18s %6s %12s %10s %12s %9s %10s %6s%n", "ranks", "layout", "batch", "tokens/step", "step ms",
                "tokens/s", "speed-up", "efficiency", "MFU");
        out.flush();
        TokenDataset data = TokenDataset.fromText(ArithmeticCorpus.generate(SEED, CORPUS_LINES), new ByteTokenizer());
        // the JIT compiles the kernels during the first run of the JVM: warm it on the first layout, untimed
        measure(config, layouts.getFirst(), m.batchSequences(layouts.getFirst().worldSize()), data, placement);
        Row base = null;
        for (ParallelLayout layout : layouts) {
            Row row = measure(config, layout, m.batchSequences(layout.worldSize()), data, placement);
            base = base == null ? row : base;
            double speedup = row.tokensPerSecond() / base.tokensPerSecond();
            String mfu = peak.isPresent() ? String.format(Locale.ROOT, "%5.1f%%", 100 * new Mfu(config.flopsPerToken(),
                    peak.getAsDouble(), row.ranks()).at(row.tokensPerSecond())) : "-";
            out.printf(Locale.ROOT, "%6d %-18s %6d %12d %10.1f %12.0f %9.2f %10.2f %6s%n", row.ranks(), layout,
                    row.batchSequences(), row.tokens() / row.steps(), row.seconds() / row.steps() * 1e3,
                    row.tokensPerSecond(), speedup, speedup * base.ranks() / row.ranks(), mfu);
            out.flush();
        }
        return 0;
    }

    /** What is wrong with the options other than the layouts, in one line, or null. */
    private String problem(Mode m) {
        if (!backend.equalsIgnoreCase("cpu") && !backend.equalsIgnoreCase("cuda") && !backend.equalsIgnoreCase("mpi")) {
            return "unknown backend '" + backend + "': expected cpu, mpi or cuda";
        }
        if (tf32 && !backend.equalsIgnoreCase("cuda")) {
            return "--tf32 is for --backend cuda";
        }
        if (!preset.equalsIgnoreCase("tiny") && !preset.equalsIgnoreCase("gpt2")) {
            return "unknown preset '" + preset + "': expected tiny or gpt2";
        }
        if (m == null) {
            return "unknown mode '" + mode + "': expected dp or tp";
        }
        if (steps < 1 || warmup < 0) {
            return "--steps " + steps + " must be >= 1 and --warmup " + warmup + " >= 0";
        }
        if (ranks.isEmpty() || ranks.stream().anyMatch(n -> n < 1)) {
            return "--ranks " + ranks + ": every rank count must be >= 1";
        }
        return null;
    }

    /**
     * One process per rank: under mpirun this process is one rank of an N-process run (the reporting rank prints a
     * {@code mpi-row} line); otherwise one {@code mpirun -np N} job of this command per N, their rows in one table.
     */
    private int mpi(PrintWriter out, GptConfig config, Mode m) {
        var job = JobEnvironment.mpiFromSystem();
        TokenDataset data = TokenDataset.fromText(ArithmeticCorpus.generate(SEED, CORPUS_LINES), new ByteTokenizer());
        if (job.isPresent()) {
            int n = job.get().worldSize();
            ParallelLayout layout = m.layout(n);
            layout.validate(new GptModel(config), m.batchSequences(n));
            Row row = measure(config, layout, m.batchSequences(n), data, RankPlacement.mpiProcess(job.get()));
            if (row != null) {
                out.printf(Locale.ROOT, "mpi-row %d %d %d %.6f %.3f%n", n, row.batchSequences(),
                        row.tokens() / row.steps(), row.seconds() / row.steps() * 1e3, row.tokensPerSecond());
                out.flush();
            }
            return 0;
        }
        if (!MpiJobs.mpirunOnPath()) {
            throw new IllegalArgumentException("bench train --backend mpi starts mpirun -np N for each --ranks count, "
                    + "but there is no mpirun on PATH: install Open MPI (Debian: openmpi-bin libopenmpi-dev)");
        }
        out.printf(Locale.ROOT, "# training throughput, CPU backend, one process per rank (MPI); model %s: %d layers, "
                + "%d heads, %d wide, %d tokens of context; fp32, no ZeRO, 1 micro-batch%n", preset, config.layers(),
                config.heads(), config.channels(), config.seqLen());
        out.printf(Locale.ROOT, "# %s; %d warm-up + %d timed steps per N, each N its own mpirun job; %d cores%n",
                m == Mode.DP ? "dp, weak scaling: " + SEQUENCES_PER_RANK + " sequences per rank"
                        : "tp, strong scaling: " + SEQUENCES_PER_RANK + " sequences in all", warmup, steps,
                Runtime.getRuntime().availableProcessors());
        out.printf("%6s %-18s %6s %12s %10s %12s %9s %10s%n", "ranks", "layout", "batch", "tokens/step", "step ms",
                "tokens/s", "speed-up", "efficiency");
        double base = 0;
        int baseRanks = 0;
        for (int n : ranks) {
            MpiJobs.Result r;
            try {
                r = MpiJobs.run(n, List.of("bench", "train", "--backend", "mpi", "--mode", mode, "--preset", preset,
                        "--steps", Integer.toString(steps), "--warmup", Integer.toString(warmup)));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("starting mpirun -np " + n + ": " + e.getMessage(), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while mpirun -np " + n + " ran", e);
            }
            String[] f = r.out().lines().filter(l -> l.startsWith("mpi-row ")).findFirst()
                    .orElseThrow(() -> new IllegalStateException("mpirun -np " + n + " bench train gave no result "
                            + "(exit " + r.exit() + "): " + r.err().strip().lines().reduce((a, b) -> b).orElse("")))
                    .split(" ");
            double tokensPerSecond = Double.parseDouble(f[5]);
            if (base == 0) {
                base = tokensPerSecond;
                baseRanks = n;
            }
            double speedup = tokensPerSecond / base;
            out.printf(Locale.ROOT, "%6d %-18s %6s %12s %10.1f %12.0f %9.2f %10.2f%n", n, m.layout(n), f[2], f[3],
                    Double.parseDouble(f[4]), tokensPerSecond, speedup, speedup * baseRanks / n);
            out.flush();
        }
        return 0;
    }

    private Row measure(GptConfig config, ParallelLayout layout, int batch, TokenDataset data,
                        RankPlacement placement) {
        int total = warmup + steps;
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(3e-3, 3e-4, 0, total), 1.0f,
                0f, SEED, batch);
        List<StepMetrics> all = new GptTraining(config, layout, options, CommOptions.DEFAULT)
                .withPlacement(placement).run(data, total, m -> { }).steps();
        if (all.isEmpty()) {
            return null; // another process reports (a multi-process run)
        }
        List<StepMetrics> timed = all.subList(warmup, total);
        long tokens = timed.stream().mapToLong(StepMetrics::tokens).sum();
        double seconds = timed.stream().mapToDouble(StepMetrics::seconds).sum();
        return new Row(layout, batch, steps, tokens, seconds);
    }
}
