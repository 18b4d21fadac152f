package dev.gatun.e2e.gpu;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.gatun.e2e.gpu.GpuCheckStep.Figures;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs the GPU checks of record ({@link GpuCheckPlan}) on a GPU machine, or checks them on any machine
 * ({@code --dry-run}, see {@link GpuPlanCheck}). {@code .ci/gpu-checks} starts it.
 *
 * <p>A run, in order:
 * <ol>
 *   <li>counts the GPUs ({@code nvidia-smi -L}); with none it stops and says so;</li>
 *   <li>runs each step's commands in order from the project root, each line of their output appended to
 *       {@code OUT/gpu.log} as it comes, within the step's limit and what is left of {@code --budget};</li>
 *   <li>after each step, reads its figures and rewrites {@code OUT/gpu-summary.json} (step, status, exit, seconds,
 *       figures), so that a run cut short still leaves every finished step's result;</li>
 *   <li>skips, with the reason, a step that needs more GPUs than the machine has or that would start with less
 *       than {@value #MIN_START_SECONDS} s of the budget left.</li>
 * </ol>
 * It exits 0 when every step that ran passed, 1 otherwise, 2 on bad arguments or without a GPU.
 */
public final class GpuChecks {
    static final int MIN_START_SECONDS = 15;
    private static final int TAIL_LINES = 25;

    /** What became of a step. */
    enum Status {
        OK("ok"), FAILED("failed"), TIMED_OUT("timed out"), SKIPPED("skipped");

        final String label;

        Status(String label) {
            this.label = label;
        }
    }

    /** A step's result, as the summary records it. */
    record StepResult(GpuCheckStep step, Status status, Integer exit, double seconds, int limitSeconds,
                      List<String> commands, Figures figures, String reason, List<String> tail) {
        Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("step", step.id());
            m.put("proves", step.proves());
            m.put("status", status.label);
            m.put("exit", exit);
            m.put("seconds", Math.round(seconds * 10) / 10.0);
            m.put("limit_seconds", limitSeconds);
            m.put("commands", commands);
            m.put("figures", figures.values());
            if (!figures.failures().isEmpty()) {
                m.put("failures", figures.failures());
            }
            if (reason != null) {
                m.put("reason", reason);
            }
            if (!tail.isEmpty()) {
                m.put("output_tail", tail);
            }
            return m;
        }
    }

    private final Path root;
    private final Path out;
    private final Path launcher;
    private final int budgetSeconds;
    private final PrintStream console;
    private final Path log;
    private final List<StepResult> results = new ArrayList<>();
    private Instant started;

    GpuChecks(Path root, Path out, Path launcher, int budgetSeconds, PrintStream console) {
        this.root = root.toAbsolutePath().normalize();
        this.out = out.toAbsolutePath().normalize();
        this.launcher = this.root.resolve(launcher);
        this.budgetSeconds = budgetSeconds;
        this.console = console;
        this.log = this.out.resolve("gpu.log");
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Parses the arguments, then runs or checks the plan; returns the exit code. */
    static int run(String[] args, PrintStream stdout, PrintStream stderr) {
        Path root = Path.of(".");
        Path out = Path.of(System.getenv().getOrDefault("OUT", "/tmp/gpu-checks"));
        Path launcher = Path.of(".gpu", "run.sh");
        Path pack = null;
        int budget = GpuCheckPlan.BUDGET_SECONDS;
        Set<String> only = null;
        boolean dryRun = false;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--dry-run" -> dryRun = true;
                    case "--root" -> root = Path.of(args[++i]);
                    case "--out" -> out = Path.of(args[++i]);
                    case "--launcher" -> launcher = Path.of(args[++i]);
                    case "--pack" -> pack = Path.of(args[++i]);
                    case "--budget" -> budget = Integer.parseInt(args[++i]);
                    case "--only" -> only = Set.of(args[++i].split(","));
                    default -> throw new IllegalArgumentException("unknown argument '" + args[i] + "'");
                }
            }
            if (budget < MIN_START_SECONDS) {
                throw new IllegalArgumentException("--budget " + budget + " is below " + MIN_START_SECONDS + " s");
            }
        } catch (ArrayIndexOutOfBoundsException | IllegalArgumentException e) {
            stderr.println("gpu-checks: " + (e instanceof ArrayIndexOutOfBoundsException
                    ? "an option needs a value" : e.getMessage())
                    + " (usage: [--dry-run] [--out DIR] [--budget SECONDS] [--only STEP,STEP] [--root DIR]"
                    + " [--launcher PATH] [--pack DIR])");
            return 2;
        }
        GpuCount gpus = GpuCount.query(root);
        List<GpuCheckStep> plan;
        try {
            // a dry run checks the command lines of the multi-GPU steps as an 8-GPU machine would run them
            plan = select(GpuCheckPlan.standard(out.toAbsolutePath(), dryRun ? 8 : gpus.count(),
                    GpuCheckPlan.torchPython()), only);
        } catch (IllegalArgumentException e) {
            stderr.println("gpu-checks: " + e.getMessage());
            return 2;
        }
        if (dryRun) {
            boolean ok = new GpuPlanCheck(root, pack, System.getProperty("java.class.path")).check(plan, budget,
                    stdout);
            stdout.println(gpus.count() == 0
                    ? "no GPU here (" + gpus.reason() + "): the plan was checked, nothing ran"
                    : gpus.count() + " GPU(s) here: the plan was checked, nothing ran (run without --dry-run)");
            return ok ? 0 : 1;
        }
        if (gpus.count() == 0) {
            stderr.println("gpu-checks: no GPU here (" + gpus.reason() + "); nothing to run. --dry-run checks the "
                    + "plan on any machine.");
            return 2;
        }
        return new GpuChecks(root, out, launcher, budget, stdout).runAll(plan, gpus.count()) ? 0 : 1;
    }

    private static List<GpuCheckStep> select(List<GpuCheckStep> plan, Set<String> only) {
        if (only == null) {
            return plan;
        }
        List<String> ids = plan.stream().map(GpuCheckStep::id).toList();
        for (String id : only) {
            if (!ids.contains(id)) {
                throw new IllegalArgumentException("--only: no step '" + id + "'; the steps are " + ids);
            }
        }
        return plan.stream().filter(s -> only.contains(s.id())).toList();
    }

    /** Runs the steps in order; true when every step that ran passed. */
    boolean runAll(List<GpuCheckStep> plan, int gpus) {
        started = Instant.now();
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + out, e);
        }
        say(String.format(Locale.ROOT, "### GPU checks of record: %d steps, budget %d s, %d GPU(s), started %s",
                plan.size(), budgetSeconds, gpus, started));
        for (int i = 0; i < plan.size(); i++) {
            GpuCheckStep step = plan.get(i);
            long left = budgetSeconds - Duration.between(started, Instant.now()).toSeconds();
            StepResult result;
            if (step.gpusNeeded() > gpus) {
                result = skipped(step, "needs " + step.gpusNeeded() + " GPUs; this machine has " + gpus);
            } else if (left < MIN_START_SECONDS) {
                result = skipped(step, "the budget of " + budgetSeconds + " s is spent (" + Math.max(0, left)
                        + " s left); rerun with --only " + step.id());
            } else {
                int limit = (int) Math.min(step.limitSeconds(), left);
                say(String.format(Locale.ROOT, "### [%d/%d] %s (limit %d s): %s", i + 1, plan.size(), step.id(),
                        limit, step.proves()));
                result = runStep(step, limit);
            }
            results.add(result);
            say(String.format(Locale.ROOT, "### %s: %s%s, %.1f s%s", step.id(), result.status().label,
                    result.exit() == null ? "" : " (exit " + result.exit() + ")", result.seconds(),
                    result.reason() != null ? ": " + result.reason() : result.figures().failures().isEmpty() ? ""
                            : ": " + String.join("; ", result.figures().failures())));
            writeSummary(gpus);
        }
        say("### summary: " + out.resolve("gpu-summary.json"));
        for (StepResult r : results) {
            say(String.format(Locale.ROOT, "  %-12s %-9s %6.1f s  %s", r.step().id(), r.status().label, r.seconds(),
                    r.figures().values()));
        }
        return results.stream().allMatch(r -> r.status() == Status.OK || r.status() == Status.SKIPPED);
    }

    private StepResult skipped(GpuCheckStep step, String reason) {
        return new StepResult(step, Status.SKIPPED, null, 0, step.limitSeconds(), List.of(), Figures.none(), reason,
                List.of());
    }

    private StepResult runStep(GpuCheckStep step, int limitSeconds) {
        step.fresh().forEach(GpuChecks::delete);
        long start = System.nanoTime();
        long deadline = start + TimeUnit.SECONDS.toNanos(limitSeconds);
        List<String> outputs = new ArrayList<>();
        List<String> shown = new ArrayList<>();
        Status status = Status.OK;
        Integer exit = null;
        String reason = null;
        StringBuilder text = new StringBuilder();
        for (GpuCommand command : step.commands()) {
            List<String> argv = command.argv(launcher);
            shown.add(command.display(launcher));
            say("$ " + command.display(launcher));
            text.setLength(0);
            Process process;
            try {
                process = new ProcessBuilder(argv).directory(root.toFile()).redirectErrorStream(true).start();
            } catch (IOException e) {
                status = Status.FAILED;
                reason = "cannot start " + argv.getFirst() + ": " + e.getMessage();
                break;
            }
            Thread pump = Thread.ofPlatform().daemon().start(() -> pump(process, text));
            try {
                boolean done = process.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (!done) {
                    process.descendants().forEach(ProcessHandle::destroyForcibly);
                    process.destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
                pump.join(TimeUnit.SECONDS.toMillis(10));
                exit = done ? process.exitValue() : 124;
                if (!done) {
                    status = Status.TIMED_OUT;
                    reason = "killed at the step's limit of " + limitSeconds + " s";
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                status = Status.FAILED;
                reason = "interrupted";
            }
            synchronized (text) {
                outputs.add(text.toString());
            }
            if (status != Status.OK || exit != 0) {
                status = status == Status.OK ? Status.FAILED : status;
                break;
            }
        }
        Figures figures;
        try {
            figures = step.figures().read(outputs);
        } catch (Exception e) {
            figures = new Figures(Map.of(), List.of("reading the figures failed: " + e));
        }
        if (status == Status.OK && !figures.failures().isEmpty()) {
            status = Status.FAILED;
        }
        List<String> tail = List.of();
        if (status != Status.OK && !outputs.isEmpty()) {
            List<String> lines = outputs.getLast().lines().toList();
            tail = lines.subList(Math.max(0, lines.size() - TAIL_LINES), lines.size());
        }
        return new StepResult(step, status, exit, (System.nanoTime() - start) / 1e9, limitSeconds, shown, figures,
                reason, tail);
    }

    private void pump(Process process, StringBuilder text) {
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = reader.readLine()) != null) {
                synchronized (text) {
                    text.append(line).append('\n');
                }
                say(line);
            }
        } catch (IOException e) {
            say("(output ended: " + e.getMessage() + ")");
        }
    }

    /** One line to the console and to {@code gpu.log}, at once. */
    private synchronized void say(String line) {
        console.println(line);
        console.flush();
        try (Writer w = Files.newBufferedWriter(log, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND)) {
            w.write(line);
            w.write('\n');
        } catch (IOException e) {
            console.println("(cannot append to " + log + ": " + e.getMessage() + ")");
        }
    }

    private void writeSummary(int gpus) {
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("checks", "Gatun GPU checks of record (.ci/gpu-checks)");
        summary.put("started", started.toString());
        summary.put("elapsed_seconds", Math.round(Duration.between(started, Instant.now()).toMillis() / 100.0) / 10.0);
        summary.put("budget_seconds", budgetSeconds);
        summary.put("gpus", gpus);
        results.stream().filter(r -> r.step().id().equals("probe")).findFirst()
                .map(r -> r.figures().values().get("gpu")).ifPresent(name -> summary.put("gpu", name));
        summary.put("passed", results.stream().filter(r -> r.status() == Status.OK).map(r -> r.step().id()).toList());
        summary.put("not_passed", results.stream().filter(r -> r.status() != Status.OK)
                .map(r -> r.step().id() + ": " + r.status().label).toList());
        summary.put("steps", results.stream().map(StepResult::json).toList());
        Path file = out.resolve("gpu-summary.json");
        try {
            Path temp = Files.createTempFile(out, "gpu-summary", ".tmp");
            new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(temp.toFile(), summary);
            Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            say("(cannot write " + file + ": " + e.getMessage() + ")");
        }
    }

    private static void delete(Path path) {
        if (!Files.exists(path)) {
            return;
        }
        try (Stream<Path> all = Files.walk(path)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot clear " + path, e);
        }
    }

    /** The GPUs {@code nvidia-smi -L} lists, or why there are none. */
    record GpuCount(int count, String reason) {
        static GpuCount query(Path root) {
            try {
                Process p = new ProcessBuilder("nvidia-smi", "-L").directory(root.toFile())
                        .redirectErrorStream(true).start();
                String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (!p.waitFor(20, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    return new GpuCount(0, "nvidia-smi -L did not answer in 20 s");
                }
                long gpus = text.lines().filter(l -> l.startsWith("GPU ")).count();
                return gpus > 0 ? new GpuCount((int) gpus, text.strip())
                        : new GpuCount(0, "nvidia-smi -L: " + (text.isBlank() ? "exit " + p.exitValue()
                        : text.strip().lines().findFirst().orElse("")));
            } catch (IOException e) {
                return new GpuCount(0, "nvidia-smi not found");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return new GpuCount(0, "interrupted");
            }
        }
    }
}
