package dev.gatun.jmh;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.gpt.train.GptTraining;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.pipeline.Action;
import dev.gatun.pipeline.CostModel;
import dev.gatun.pipeline.ScheduleSimulator;
import dev.gatun.pipeline.Timeline;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
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
 * 1F1B against ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", 2024) at pp 4 with m 8 micro-batches: a GPT of
 * 8 blocks (2 per stage, C = 256, T = 128, byte vocabulary, tied head), fp32, 16 sequences per step, 4 pipeline ranks
 * as threads on the CPU backend. Each invocation trains {@value #STEPS} steps and keeps the last one's measured
 * timeline (every compute action's start and end on every rank). At the end of a trial a line
 * {@code # schedule S: ...} gives the means over the invocations of: the step's time; the bubble fraction
 * {@code idle / makespan} averaged over the ranks, measured; the same simulated with the paper's costs
 * ({@code T_F = T_B = T_W}, a whole backward {@code T_B + T_W}); and simulated with the mean measured durations of F, B
 * (or I and W); the largest rank's peak of activation memory; and the mean measured duration of each action type.
 * {@code jmh/zero-bubble.sh} runs both and prints them side by side.
 *
 * <p>The ranks share this machine's cores: when more ranks compute at once than there are cores, their actions
 * stretch, which the measured bubble counts as busy time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
public class ZeroBubbleBenchmark extends TrainingRuns {
    static final int PP = 4;
    static final int MICRO_BATCHES = 8;
    static final int STEPS = 3;
    static final GptConfig CONFIG = new GptConfig(8, 4, 256, 128, ByteTokenizer.VOCAB_SIZE, true);

    @Param({"1f1b", "zb-h1"})
    public String schedule;

    private TokenDataset data;
    private GptTraining training;

    @Setup(Level.Trial)
    public void setUp() {
        data = TokenDataset.fromText(ArithmeticCorpus.generate(7, 4_000), new ByteTokenizer());
        var layout = new ParallelLayout(1, 1, PP, ZeroStage.NONE, ScheduleKind.byName(schedule), MICRO_BATCHES, 1);
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(1e-3, 1e-4, 1, STEPS), 1f, 0f,
                5, 2 * MICRO_BATCHES);
        training = new GptTraining(CONFIG, layout, options, CommOptions.DEFAULT.withTimeout(Duration.ofMinutes(5)));
    }

    @Benchmark
    public double train() {
        Training.Result r = training.run(data, STEPS, m -> { });
        Timeline measured = r.measuredTimeline();
        double seconds = r.steps().getLast().seconds();
        var sched = measured.schedule();
        Timeline paper = ScheduleSimulator.simulate(sched, CostModel.uniform(1, 1, 1));
        Timeline fromMeasured = ScheduleSimulator.simulate(sched, meanDurations(measured));
        double peakActivations = r.ranks().stream()
                .mapToLong(k -> k.memory().usage(MemoryCategory.ACTIVATIONS).peakBytes()).max().orElse(0);
        record(seconds * 1e3, meanBubble(measured), meanBubble(paper), meanBubble(fromMeasured), peakActivations,
                mean(measured, "F"), mean(measured, "B"), mean(measured, "I"), mean(measured, "W"));
        return r.steps().getLast().loss();
    }

    /** Every compute action costed at the mean measured duration of its type (F, B, I or W) over all ranks. */
    private static CostModel meanDurations(Timeline measured) {
        Map<String, double[]> sums = new HashMap<>();
        for (List<Timeline.Slot> rank : measured.slots()) {
            for (Timeline.Slot s : rank) {
                double[] acc = sums.computeIfAbsent(s.action().type().symbol(), k -> new double[2]);
                acc[0] += s.duration();
                acc[1]++;
            }
        }
        return (Action a) -> {
            double[] acc = sums.get(a.type().symbol());
            return acc == null ? 0 : acc[0] / acc[1];
        };
    }

    /** The mean measured duration of the compute actions of type {@code symbol}, in ms; 0 when there are none. */
    private static double mean(Timeline measured, String symbol) {
        return measured.slots().stream().flatMap(List::stream).filter(x -> x.action().type().symbol().equals(symbol))
                .mapToDouble(Timeline.Slot::duration).average().orElse(0);
    }

    private static double meanBubble(Timeline t) {
        return IntStream.range(0, t.slots().size()).mapToDouble(t::bubbleFraction).average().orElse(0);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        System.out.printf(Locale.ROOT, "%n# schedule %s: step %.1f ms, bubble measured %.4f, simulated paper %.4f,"
                + " simulated measured-costs %.4f, peak activations %.0f bytes, mean ms F %.2f B %.2f I %.2f W %.2f%n",
                schedule, mean(0), mean(1), mean(2), mean(3), mean(4), mean(5), mean(6), mean(7), mean(8));
    }
}
