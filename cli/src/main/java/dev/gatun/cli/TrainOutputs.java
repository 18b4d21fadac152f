package dev.gatun.cli;

import dev.gatun.cli.report.LineChart;
import dev.gatun.cli.report.MemoryChart;
import dev.gatun.cli.report.MetricsWriter;
import dev.gatun.train.checkpoint.AtomicFiles;
import dev.gatun.train.Mfu;
import dev.gatun.train.Training;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.RecomputePlan;
import dev.gatun.train.RankSummary;
import dev.gatun.train.StepMetrics;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.pipeline.GanttChart;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What {@code gatun train} writes into its output directory: {@code metrics.jsonl} (one JSON object per step),
 * {@code loss.svg} (the loss curve), {@code pipeline.svg} (the last step's pipeline schedule with measured durations)
 * and {@code memory.svg} (each rank's peak bytes by category, with the ZeRO formula's model states marked).
 */
final class TrainOutputs {
    private TrainOutputs() {
    }

    /** Writes the files and returns their paths. */
    static List<Path> write(Path dir, ParallelLayout layout, RecomputePlan recompute,
                            Training.Result result, Optional<Mfu> mfu, LineChart.Scale lossAxis) {
        List<Path> written = new ArrayList<>();
        Path metrics = dir.resolve("metrics.jsonl");
        try (var w = new MetricsWriter(metrics)) {
            for (StepMetrics m : result.steps()) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("step", m.step());
                r.put("loss", m.loss());
                r.put("lr", m.learningRate());
                r.put("grad_norm", m.gradNorm());
                r.put("applied", m.applied());
                r.put("loss_scale", m.lossScale());
                r.put("tokens", m.tokens());
                r.put("seconds", m.seconds());
                r.put("tokens_per_second", m.tokensPerSecond());
                mfu.ifPresent(u -> r.put("mfu", u.at(m.tokensPerSecond())));
                w.write(r);
            }
        }
        written.add(metrics);

        double[] x = result.steps().stream().mapToDouble(StepMetrics::step).toArray();
        double[] y = result.steps().stream().mapToDouble(StepMetrics::loss).toArray();
        Path loss = dir.resolve("loss.svg");
        AtomicFiles.writeAtomically(loss, LineChart.svg("Training loss, " + layout, "step", "loss",
                List.of(new LineChart.Series("loss", x, y)), lossAxis, true));
        written.add(loss);

        if (result.measuredTimeline() != null) {
            Path gantt = dir.resolve("pipeline.svg");
            AtomicFiles.writeAtomically(gantt, GanttChart.svg(result.measuredTimeline(), lanes(layout, result)));
            written.add(gantt);
        }

        List<MemoryChart.RankMemory> ranks = new ArrayList<>();
        for (RankSummary r : result.ranks()) {
            LinkedHashMap<String, Long> bytes = new LinkedHashMap<>();
            for (MemoryCategory c : MemoryCategory.values()) {
                bytes.put(c.label(), r.memory().usage(c).peakBytes());
            }
            ranks.add(new MemoryChart.RankMemory("rank " + r.rank() + " " + r.coordinates(), bytes,
                    r.formulaModelStateBytes()));
        }
        Path memory = dir.resolve("memory.svg");
        AtomicFiles.writeAtomically(memory, MemoryChart.svg("Peak memory per rank, " + layout
                        + (recompute.equals(RecomputePlan.NONE) ? "" : ", recompute " + recompute), "peak memory (MiB)",
                "parameters + gradients + optimizer state", ranks));
        written.add(memory);
        return written;
    }

    /** One lane per pipeline rank: the stages it holds and the world ranks it stands for, time in ms. */
    private static GanttChart.Labels lanes(ParallelLayout layout, Training.Result result) {
        List<String> rows = new ArrayList<>();
        for (int p = 0; p < layout.pp(); p++) {
            int pipelineRank = p;
            List<String> stages = new ArrayList<>();
            for (int v = 0; v < layout.virtualStages(); v++) {
                stages.add(Integer.toString(pipelineRank + v * layout.pp()));
            }
            List<String> worldRanks = result.ranks().stream().filter(r -> r.coordinates().pp() == pipelineRank)
                    .map(r -> Integer.toString(r.rank())).toList();
            rows.add((stages.size() > 1 ? "stages " : "stage ") + String.join(", ", stages)
                    + (worldRanks.isEmpty() ? "" : " (rank" + (worldRanks.size() > 1 ? "s " : " ")
                    + String.join(", ", worldRanks) + ")"));
        }
        return new GanttChart.Labels("ms", rows);
    }
}
