package dev.gatun.jmh;

import dev.gatun.train.Recompute;
import dev.gatun.train.RecomputePlan;
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
 * The price and the gain of activation recomputation: a GPT-2 124M training step (fp32, one rank on the CPU backend,
 * {@link GptStep}) with a short sequence, 2 × 128 tokens, under {@code none}, {@code selective} and {@code full}
 * recomputation; ms per step, and at the end of each trial a line {@code # recompute MODE: peak activations B bytes}
 * with the accountant's peak of activation memory. {@code jmh/recompute.sh} runs the three and prints both as
 * ratios to {@code none}. The losses are the same in every mode (RecomputeTest proves it bit for bit).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 3)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
public class RecomputeBenchmark {
    static final int EXAMPLES = 2;
    static final int SEQ = 128;

    @Param({"none", "selective", "full"})
    public String recompute;

    @Param({"gpt2"})
    public String preset;

    private GptStep step;

    @Setup(Level.Trial)
    public void setUp() {
        step = new GptStep(preset, EXAMPLES, SEQ, RecomputePlan.all(Recompute.parse(recompute)));
    }

    @Benchmark
    public double step() {
        return step.step();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        System.out.printf(Locale.ROOT, "%n# recompute %s: peak activations %d bytes%n", recompute,
                step.peakActivationBytes());
        step.close();
    }
}
