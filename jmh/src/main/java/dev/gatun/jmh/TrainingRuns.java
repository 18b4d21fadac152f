package dev.gatun.jmh;

import java.util.ArrayList;
import java.util.List;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

/**
 * What the benchmarks that time whole training runs share: each invocation records its figures (a step's time, a
 * peak of memory, ...) unless it belongs to a warm-up iteration, and the trial prints their means.
 */
@State(Scope.Benchmark)
public abstract class TrainingRuns {
    private final List<double[]> measured = new ArrayList<>();
    private boolean warmingUp;

    @Setup(Level.Iteration)
    public void iteration(IterationParams params) {
        warmingUp = params.getType() == IterationType.WARMUP;
    }

    /** Keeps one invocation's figures, unless it is a warm-up one. */
    protected void record(double... figures) {
        if (!warmingUp) {
            measured.add(figures.clone());
        }
    }

    /** The mean of figure {@code i} over the measured invocations (0 before any). */
    protected double mean(int i) {
        return measured.stream().mapToDouble(f -> f[i]).average().orElse(0);
    }
}
