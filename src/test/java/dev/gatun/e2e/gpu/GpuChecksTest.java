package dev.gatun.e2e.gpu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.gatun.e2e.gpu.GpuCheckStep.Figures;
import dev.gatun.e2e.gpu.GpuCommand.Benchmark;
import dev.gatun.e2e.gpu.GpuCommand.Gatun;
import dev.gatun.e2e.gpu.GpuCommand.Program;
import dev.gatun.e2e.gpu.GpuCommand.Tests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU checks of record on a machine without a GPU: {@code .ci/gpu-checks --dry-run} passes and says so, a plan
 * with a broken step fails the dry run, and the runner keeps its limits, its budget and its summary with steps of
 * ordinary programs.
 */
@Timeout(240)
class GpuChecksTest {
    static final Path ROOT = Path.of("../..").toAbsolutePath().normalize();

    /** This JVM's class path and every module's test classes: what the pack puts on the GPU machine's. */
    static String classPath() throws IOException {
        List<String> entries = new ArrayList<>(List.of(System.getProperty("java.class.path").split(File.pathSeparator)));
        try (Stream<Path> modules = Files.list(ROOT)) {
            modules.map(m -> m.resolve("target/test-classes")).filter(Files::isDirectory)
                    .forEach(d -> entries.add(d.toString()));
        }
        return String.join(File.pathSeparator, entries);
    }

    private record Outcome(int exit, String output) {
    }

    private static Outcome checkPlan(List<GpuCheckStep> plan) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        boolean ok = new GpuPlanCheck(ROOT, null, classPath()).check(plan, 420,
                new PrintStream(bytes, true, StandardCharsets.UTF_8));
        return new Outcome(ok ? 0 : 1, bytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void theScriptsDryRunChecksEveryStepAndSaysThereIsNoGpu(@TempDir Path out) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("bash", ROOT.resolve(".ci/gpu-checks").toString(), "--dry-run")
                .directory(ROOT.toFile()).redirectErrorStream(true);
        pb.environment().put("GATUN_CHECKS_CLASSPATH", classPath());
        pb.environment().put("JAVA", Path.of(System.getProperty("java.home"), "bin", "java").toString());
        pb.environment().put("OUT", out.toString());
        Process p = pb.start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), text);
        assertEquals(0, p.exitValue(), text);
        for (GpuCheckStep step : GpuCheckPlan.standard(out, 8, "python3")) {
            assertTrue(text.contains("[ok] " + step.id() + " "), step.id() + " not checked:\n" + text);
        }
        assertFalse(text.contains("[FAIL]"), text);
        assertTrue(text.contains("[ok] every gpu-tagged test class"), text);
        assertTrue(text.contains("CudaBackendGpuTest") && text.contains("NcclCommunicatorGpuTest"), text);
        assertTrue(text.contains("no GPU here") || text.contains("GPU(s) here"), text);
        assertTrue(text.contains("nothing ran"), text);
    }

    @Test
    void aDryRunFailsOnEveryKindOfBrokenCommand() throws Exception {
        Path reports = Path.of("/tmp/unused");
        List<GpuCheckStep> plan = List.of(
                step("bad-option", Gatun.of("train", "--device", "cuda", "--no-such-option")),
                step("bad-launch", Gatun.of("launch", "--nproc", "1", "--", "train", "--stepz", "3")),
                step("bad-class", new Tests("gpu", List.of("dev.gatun.ops"), List.of(), reports,
                        List.of("dev.gatun.ops.cuda.NoSuchGpuTest"))),
                step("untagged", new Tests("gpu", List.of("dev.gatun.ops"), List.of(), reports,
                        List.of("dev.gatun.ops.cpu.CpuBackendTest"))),
                step("empty-package", new Tests("gpu", List.of("dev.gatun.nothing"), List.of(), reports, List.of())),
                step("bad-param", new Benchmark("dev.gatun.jmh.CublasGemmBenchmark", List.of("-p", "size=8192"))),
                step("bad-jmh-option", new Benchmark("dev.gatun.jmh.CublasGemmBenchmark", List.of("-wi", "two"))),
                step("bad-benchmark", new Benchmark("dev.gatun.jmh.NoSuchBenchmark", List.of())),
                step("bad-script", new Program(List.of("python3", "jmh/no-such.py"), Path.of("jmh/no-such.py"))));
        Outcome r = checkPlan(plan);
        assertEquals(1, r.exit(), r.output());
        for (GpuCheckStep s : plan) {
            assertTrue(r.output().contains("[FAIL] " + s.id() + " "), s.id() + " passed:\n" + r.output());
        }
        assertTrue(r.output().contains("no-such-option"), r.output());
        assertTrue(r.output().contains("--stepz"), r.output());
        assertTrue(r.output().contains("NoSuchGpuTest is not on the class path"), r.output());
        assertTrue(r.output().contains("CpuBackendTest is not tagged 'gpu'"), r.output());
        assertTrue(r.output().contains("has no parameter 'size'"), r.output());
        assertTrue(r.output().contains("gpu-tagged test classes in no step"), r.output());
    }

    @Test
    void aGpuTestClassThatNoStepRunsFailsTheDryRun() throws Exception {
        List<GpuCheckStep> plan = GpuCheckPlan.standard(Path.of("/tmp/out"), 1, "python3").stream()
                .filter(s -> !s.id().equals("layer-tests")).toList();
        Outcome r = checkPlan(plan);
        assertEquals(1, r.exit(), r.output());
        assertTrue(r.output().contains("dev.gatun.tp.TensorParallelGpuTest"), r.output());
        assertTrue(r.output().contains("dev.gatun.e2e.CudaTrainingGpuTest"), r.output());
    }

    private static GpuCheckStep step(String id, GpuCommand command) {
        return new GpuCheckStep(id, "a test step", 10, 1, List.of(command), outputs -> Figures.none());
    }

    private static Program shell(String script) {
        return new Program(List.of("bash", "-c", script), null);
    }

    @Test
    void theRunnerLogsAsItGoesKeepsLimitsAndBudgetAndWritesTheSummary(@TempDir Path out) throws Exception {
        Path stale = Files.createDirectories(out.resolve("cache"));
        Files.writeString(stale.resolve("old"), "x");
        List<GpuCheckStep> plan = List.of(
                new GpuCheckStep("first", "prints a figure", 20, 1, List.of(shell("echo 'answer 42'"),
                        shell("test ! -e " + stale + " && echo cleared")),
                        outputs -> Figures.of(Map.of("answer", Integer.parseInt(outputs.get(0).split(" ")[1].strip()),
                                "cleared", outputs.get(1).strip())), List.of(stale)),
                new GpuCheckStep("fails", "exits 3", 20, 1, List.of(shell("echo before; exit 3"), shell("echo never")),
                        outputs -> Figures.of(Map.of("commands_run", outputs.size()))),
                new GpuCheckStep("check", "its figures fail a check", 20, 1, List.of(shell("echo 1.5")),
                        outputs -> new Figures(Map.of("loss", 1.5), List.of("loss too high"))),
                new GpuCheckStep("slow", "outlives its limit", 1, 1, List.of(shell("echo started; exec sleep 60")),
                        outputs -> Figures.none()),
                new GpuCheckStep("two-gpus", "needs two GPUs", 20, 2, List.of(shell("echo no")),
                        outputs -> Figures.none()),
                new GpuCheckStep("late", "starts after the budget", 20, 1, List.of(shell("echo late")),
                        outputs -> Figures.none()));
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        // a budget 4 s above the minimum to start a step: "spend" uses it up before "late"
        GpuChecks checks = new GpuChecks(ROOT, out, Path.of(".gpu/run.sh"), GpuChecks.MIN_START_SECONDS + 4,
                new PrintStream(console, true, StandardCharsets.UTF_8));
        List<GpuCheckStep> timed = new ArrayList<>(plan);
        timed.add(4, new GpuCheckStep("spend", "uses the budget", 20, 1, List.of(shell("sleep 4")),
                outputs -> Figures.none()));
        long start = System.nanoTime();
        assertFalse(checks.runAll(timed, 1));
        assertTrue((System.nanoTime() - start) / 1e9 < 30, "the 60 s sleep was not cut at its limit");

        JsonNode summary = new ObjectMapper().readTree(out.resolve("gpu-summary.json").toFile());
        JsonNode steps = summary.get("steps");
        assertEquals(timed.size(), steps.size(), summary.toPrettyString());
        assertEquals("ok", steps.get(0).get("status").asText(), summary.toPrettyString());
        assertEquals(42, steps.get(0).get("figures").get("answer").asInt());
        assertEquals("cleared", steps.get(0).get("figures").get("cleared").asText());
        assertEquals("failed", steps.get(1).get("status").asText());
        assertEquals(3, steps.get(1).get("exit").asInt());
        assertEquals(1, steps.get(1).get("figures").get("commands_run").asInt(), "stops at the failed command");
        assertEquals("before", steps.get(1).get("output_tail").get(0).asText());
        assertEquals("failed", steps.get(2).get("status").asText());
        assertEquals("loss too high", steps.get(2).get("failures").get(0).asText());
        assertEquals("timed out", steps.get(3).get("status").asText());
        assertEquals(124, steps.get(3).get("exit").asInt());
        assertEquals("ok", steps.get(4).get("status").asText());
        assertEquals("skipped", steps.get(5).get("status").asText());
        assertTrue(steps.get(5).get("reason").asText().contains("needs 2 GPUs; this machine has 1"));
        assertEquals("skipped", steps.get(6).get("status").asText());
        assertTrue(steps.get(6).get("reason").asText().contains("budget"), steps.get(6).toString());
        assertEquals(List.of("first", "spend"), new ObjectMapper().convertValue(summary.get("passed"), List.class));

        String log = Files.readString(out.resolve("gpu.log"));
        assertTrue(log.contains("answer 42") && log.contains("started") && log.contains("### slow: timed out"), log);
        assertFalse(log.contains("never"), log);
        assertEquals(console.toString(StandardCharsets.UTF_8), log, "the console shows what the log holds");
    }

    @Test
    void badArgumentsAndNoGpuAreOneLineAndExitTwo() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        PrintStream o = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        assertEquals(2, GpuChecks.run(new String[]{"--budget"}, o, e));
        assertEquals(2, GpuChecks.run(new String[]{"--only", "nosuch", "--dry-run"}, o, e));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("no step 'nosuch'"), err.toString());
        if (GpuChecks.GpuCount.query(ROOT).count() == 0) {
            assertEquals(2, GpuChecks.run(new String[]{"--out", "/tmp/gpu-checks-test"}, o, e));
            assertTrue(err.toString(StandardCharsets.UTF_8).contains("no GPU here"), err.toString());
        }
    }
}
