package dev.gatun.jmh;

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
 * A whole training step (forward, backward, gradient clipping, AdamW) of GPT-2 124M or the tiny preset, fp32, batch
 * 4 × 64 tokens, one rank on the CPU backend with all cores ({@link GptStep}); ms per step. {@code
 * jmh/gpt2-vs-torch.sh} runs the same step in PyTorch before and after it and prints the ratio. A step's loss must
 * stay finite, so a broken step cannot pass for a fast one.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 3)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
public class GptStepBenchmark {
    @Param({"tiny", "gpt2"})
    public String preset;

    private GptStep step;

    @Setup(Level.Trial)
    public void setUp() {
        step = new GptStep(preset);
    }

    @Benchmark
    public double step() {
        return step.step();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        step.close();
    }
}
