package dev.gatun.cli;

import dev.gatun.train.Mfu;
import dev.gatun.train.Training;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.RankSummary;
import dev.gatun.train.StepMetrics;
import dev.gatun.memory.MemoryCategory;

import java.io.PrintWriter;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/** The end-of-run summary of {@code gatun train}: the loss, the throughput and each rank's memory. */
final class TrainSummary {
    private static final double MIB = 1024.0 * 1024.0;
    private final ModelSpec model;
    private final ParallelLayout layout;
    private final Training.Result result;
    private final Optional<Mfu> mfu;

    TrainSummary(ModelSpec model, ParallelLayout layout, Training.Result result, Optional<Mfu> mfu) {
        this.model = model;
        this.layout = layout;
        this.result = result;
        this.mfu = mfu;
    }

    void print(PrintWriter out) {
        List<StepMetrics> steps = result.steps();
        StepMetrics first = steps.getFirst();
        StepMetrics last = steps.getLast();
        double tokensPerSecond = steps.size() > 1
                ? steps.subList(1, steps.size()).stream().mapToLong(StepMetrics::tokens).sum()
                / steps.subList(1, steps.size()).stream().mapToDouble(StepMetrics::seconds).sum()
                : first.tokensPerSecond();
        out.printf(Locale.ROOT, "loss    %.4f -> %.4f over %d steps (ln V = %.4f is a uniform guess)%n", first.loss(),
                last.loss(), steps.size(), Math.log(model.vocab()));
        out.printf(Locale.ROOT, "speed   %,.0f tokens/s (steps after the first), %.2f GFLOP/s of model FLOPs "
                + "(6N + attention per token); %s%n", tokensPerSecond, tokensPerSecond * model.flopsPerToken() / 1e9,
                mfu.map(m -> String.format(Locale.ROOT, "MFU %.1f%% of %d x %.1f TFLOP/s", 100 * m.at(tokensPerSecond),
                        m.ranks(), m.peakFlopsPerRank() / 1e12)).orElse("no MFU (the device's peak is not known)"));
        out.println("memory  per rank, MiB: the peak of each category; model states = parameters + gradients + "
                + "optimizer state, at the end of the run and as the sum of their peaks, next to the ZeRO formula for "
                + "this stage (" + layout.zero() + ")");
        out.printf(Locale.ROOT, "  %-4s %-18s %10s %10s %10s %11s %10s %12s %12s %10s%n", "rank", "coords",
                "params", "grads", "optimizer", "activations", "comm+work", "states end", "states peak", "formula");
        for (RankSummary r : result.ranks()) {
            var m = r.memory();
            long states = m.usage(MemoryCategory.PARAMETERS).currentBytes()
                    + m.usage(MemoryCategory.GRADIENTS).currentBytes()
                    + m.usage(MemoryCategory.OPTIMIZER_STATE).currentBytes();
            double statesPeak = peak(r, MemoryCategory.PARAMETERS) + peak(r, MemoryCategory.GRADIENTS)
                    + peak(r, MemoryCategory.OPTIMIZER_STATE);
            out.printf(Locale.ROOT, "  %-4d %-18s %10.2f %10.2f %10.2f %11.2f %10.2f %12.2f %12.2f %10.2f%n",
                    r.rank(), r.coordinates(), peak(r, MemoryCategory.PARAMETERS), peak(r, MemoryCategory.GRADIENTS),
                    peak(r, MemoryCategory.OPTIMIZER_STATE), peak(r, MemoryCategory.ACTIVATIONS),
                    peak(r, MemoryCategory.COMMUNICATION) + peak(r, MemoryCategory.WORKSPACE), states / MIB,
                    statesPeak, r.formulaModelStateBytes() / MIB);
        }
        out.println("  (bf16/fp16: the layers keep fp32 gradients, 4 bytes per parameter beyond the formula, and fp32 "
                + "copies of the parameters that are not GEMM weights; ZeRO-3's current states exclude the gathered "
                + "layer)");
        RankSummary largest = result.ranks().stream()
                .max(Comparator.comparingLong(r -> r.memory().total().peakBytes())).orElseThrow();
        out.printf(Locale.ROOT, "peak    rank %d: %.2f MiB in use at most (all categories at once), %.2f MiB reserved "
                        + "at most (in use or cached); the largest of %d ranks%n", largest.rank(),
                largest.memory().total().peakBytes() / MIB, largest.memory().reserved().peakBytes() / MIB,
                result.ranks().size());
    }

    private static double peak(RankSummary r, MemoryCategory c) {
        return r.memory().usage(c).peakBytes() / MIB;
    }
}
