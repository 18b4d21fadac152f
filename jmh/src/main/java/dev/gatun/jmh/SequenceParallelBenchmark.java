package dev.gatun.jmh;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.gpt.train.GptTraining;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Megatron's sequence parallelism at tp 2: GPT-2 124M's shape (12 blocks, C 768, 12 heads, the GPT-2 vocabulary) with
 * a short sequence, 2 × 128 tokens, fp32, 2 tensor-parallel ranks as threads on the CPU backend, with and without
 * {@code --sequence-parallel}. Each invocation trains {@value #STEPS} steps; at the end of a trial a line
 * {@code # sequence-parallel S: ...} gives the means over the measured invocations of the last step's time and of
 * the largest rank's peak of activation memory. {@code jmh/sequence-parallel.sh} prints both as ratios. The peak
 * holds the head's logits and their gradient ({@code [256, 50304/2]} each), which sequence parallelism leaves as they
 * are; what a block keeps is divided by tp exactly (BlockActivationsTest).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 4)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
public class SequenceParallelBenchmark extends TrainingRuns {
    static final int STEPS = 2;
    static final GptConfig CONFIG = new GptConfig(12, 12, 768, 128, 50257, true);

    @Param({"false", "true"})
    public boolean sequenceParallel;

    private TokenDataset data;
    private GptTraining training;

    @Setup(Level.Trial)
    public void setUp() {
        data = TokenDataset.fromText(ArithmeticCorpus.generate(7, 4_000), new ByteTokenizer());
        var layout = new ParallelLayout(1, 2, 1, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 1, 1, sequenceParallel);
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(3e-4, 3e-5, 1, STEPS), 1f, 0f,
                5, 2);
        training = new GptTraining(CONFIG, layout, options, CommOptions.DEFAULT.withTimeout(Duration.ofMinutes(5)));
    }

    @Benchmark
    public double train() {
        Training.Result r = training.run(data, STEPS, m -> { });
        record(r.steps().getLast().seconds() * 1e3, r.ranks().stream()
                .mapToLong(k -> k.memory().usage(MemoryCategory.ACTIVATIONS).peakBytes()).max().orElse(0));
        return r.steps().getLast().loss();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        System.out.printf(Locale.ROOT, "%n# sequence-parallel %s: step %.1f ms, peak activations %.0f bytes%n",
                sequenceParallel, mean(0), mean(1));
    }
}
