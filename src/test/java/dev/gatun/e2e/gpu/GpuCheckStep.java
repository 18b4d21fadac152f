package dev.gatun.e2e.gpu;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One step of the GPU checks of record: the commands it runs in order (it stops at the first that fails), its time
 * limit, how many GPUs it needs, and how its figures are read from what the commands printed and wrote.
 *
 * @param id           a short name, used by {@code --only} and in the summary
 * @param proves       what a passing step shows, in words
 * @param limitSeconds the step's time limit (the run's remaining budget may cut it shorter)
 * @param gpusNeeded   GPUs the step needs; with fewer it is skipped and says so
 * @param commands     what it runs, in order
 * @param figures      reads the step's figures (and the checks they fail) after its commands ran
 * @param fresh        files or directories removed before the step runs (e.g. a cache that must start cold)
 */
record GpuCheckStep(String id, String proves, int limitSeconds, int gpusNeeded, List<GpuCommand> commands,
                    FigureReader figures, List<Path> fresh) {
    GpuCheckStep {
        Objects.requireNonNull(id, "id");
        commands = List.copyOf(commands);
        fresh = List.copyOf(fresh);
        if (limitSeconds < 1 || gpusNeeded < 1 || commands.isEmpty()) {
            throw new IllegalArgumentException(id + ": needs a limit >= 1 s, >= 1 GPU and at least one command");
        }
    }

    GpuCheckStep(String id, String proves, int limitSeconds, int gpusNeeded, List<GpuCommand> commands,
                 FigureReader figures) {
        this(id, proves, limitSeconds, gpusNeeded, commands, figures, List.of());
    }

    /** Reads a step's figures from its commands' outputs (one string each, in order; those not run are absent). */
    @FunctionalInterface
    interface FigureReader {
        Figures read(List<String> outputs) throws Exception;
    }

    /**
     * What a step measured, and the checks on it that failed (a step whose commands succeed fails when one of its
     * checks does, e.g. a loss that differs from the CPU's).
     */
    record Figures(Map<String, Object> values, List<String> failures) {
        Figures {
            values = new LinkedHashMap<>(values);
            failures = List.copyOf(failures);
        }

        static Figures of(Map<String, Object> values) {
            return new Figures(values, List.of());
        }

        static Figures none() {
            return of(Map.of());
        }
    }
}
