package dev.gatun.e2e;

import dev.gatun.bindings.Mpi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Real multi-process training: {@code mpirun -np N gatun train ...}, one rank per process on the CPU with MPI between
 * them, in 3D layouts with ZeRO, each equal to the one-rank run of this JVM; checkpoints saved by an MPI job resume
 * in the in-process world and the reverse; a rank killed mid-run ends the whole job, leaving no process. Skipped with
 * the reason where Open MPI is not installed (Debian: {@code apt-get install openmpi-bin libopenmpi-dev}).
 */
@Timeout(600)
class MpiTrainingTest {
    private static final double TOLERANCE = 2e-5; // fp32 summation order, as LayoutEquivalenceTest

    @BeforeAll
    static void requireOpenMpi() {
        assumeTrue(Jobs.onPath("mpirun"), "mpirun is not on PATH: install Open MPI (Debian: openmpi-bin libopenmpi-dev)");
        assumeTrue(Mpi.isAvailable(), "libmpi cannot be loaded: " + Mpi.unavailableReason());
    }

    record Job(int exit, String out, String err) {
    }

    private static ProcessBuilder mpirunCommand(int ranks, List<String> trainArgs) {
        List<String> cmd = new ArrayList<>(List.of("mpirun", "--oversubscribe", "-np", Integer.toString(ranks)));
        List<String> train = new ArrayList<>(List.of("train"));
        train.addAll(trainArgs);
        cmd.addAll(Jobs.gatun(train.toArray(String[]::new)));
        return Jobs.asRoot(cmd);
    }

    static Job mpirun(int ranks, String... trainArgs) throws IOException, InterruptedException {
        ProcessBuilder pb = mpirunCommand(ranks, List.of(trainArgs));
        Path out = Files.createTempFile("mpi", ".out");
        Path err = Files.createTempFile("mpi", ".err");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(240, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError("mpirun did not end within 240 s:\n" + Files.readString(err));
        }
        Job job = new Job(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
        Files.delete(out);
        Files.delete(err);
        return job;
    }

    private static void sameCurve(double[] want, double[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], TOLERANCE * Math.abs(want[i]), what + " step " + i);
        }
    }

    private static double[] oneRank(Path dir, String... args) throws IOException {
        List<String> all = new ArrayList<>(List.of("train", "--out", dir.toString()));
        all.addAll(List.of(args));
        Cli.Run r = Cli.run(all.toArray(String[]::new));
        assertEquals(0, r.exit(), r.out() + r.err());
        return Jobs.losses(dir.resolve("metrics.jsonl"));
    }

    @ParameterizedTest(name = "mpirun -np {0}: {1}")
    @CsvSource(delimiter = '|', value = {
            "8|--dp 2 --tp 2 --pp 2 --zero 1 --microbatches 2",
            "8|--dp 2 --tp 2 --pp 2 --zero 3 --microbatches 2",
            "4|--dp 4 --zero 2",
            "3|--pp 3 --microbatches 4"})
    void anMpiJobInALayoutEqualsOneRank(int ranks, String layout, @TempDir Path dir) throws Exception {
        String[] model = {"--layers", "4", "--steps", "3"};
        double[] one = oneRank(dir.resolve("one"), model);
        List<String> args = new ArrayList<>(List.of(layout.split(" ")));
        args.addAll(List.of(model));
        args.addAll(List.of("--out", dir.resolve("mpi").toString()));
        Job job = mpirun(ranks, args.toArray(String[]::new));
        assertEquals(0, job.exit(), job.out() + job.err());
        assertTrue(job.out().contains("processes (Open MPI (mpirun)), on the CPU, MPI between them"), job.out());
        sameCurve(one, Jobs.losses(dir.resolve("mpi/metrics.jsonl")), layout);
    }

    /**
     * Saved by 4 MPI ranks (dp 2 x tp 2) and resumed in this JVM on one rank; saved here and resumed by 2 MPI ranks
     * (dp 2): both continue as the run saved and resumed here does.
     */
    @Test
    void checkpointsMoveBetweenMpiJobsAndTheInProcessWorld(@TempDir Path dir) throws Exception {
        double[] here = oneRank(dir.resolve("here"), "--steps", "2", "--save-every", "2");
        double[] hereResumed = oneRank(dir.resolve("here-resumed"), "--steps", "4", "--resume",
                dir.resolve("here").toString());

        Job saved = mpirun(4, "--dp", "2", "--tp", "2", "--steps", "2", "--save-every", "2", "--out",
                dir.resolve("mpi").toString());
        assertEquals(0, saved.exit(), saved.out() + saved.err());
        sameCurve(here, Jobs.losses(dir.resolve("mpi/metrics.jsonl")), "the MPI job's first steps");
        double[] resumed = oneRank(dir.resolve("resumed"), "--steps", "4", "--resume", dir.resolve("mpi").toString());
        sameCurve(hereResumed, resumed, "MPI checkpoint resumed in process");

        Job back = mpirun(2, "--dp", "2", "--steps", "4", "--resume", dir.resolve("here").toString(), "--out",
                dir.resolve("back").toString());
        assertEquals(0, back.exit(), back.out() + back.err());
        sameCurve(hereResumed, Jobs.losses(dir.resolve("back/metrics.jsonl")), "in-process checkpoint resumed by MPI");
    }

    /** One rank of a running job is killed: the whole job ends at once with an error, and no rank is left. */
    @Test
    void aRankThatDiesEndsTheWholeJob(@TempDir Path dir) throws Exception {
        ProcessBuilder pb = mpirunCommand(3, List.of("--pp", "3", "--layers", "3", "--steps", "100000", "--out",
                dir.toString()));
        Process p = pb.redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectErrorStream(true).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(dir.resolve(".gatun.lock")) && System.nanoTime() < deadline && p.isAlive()) {
            Thread.sleep(200); // rank 0 holds the output folder's lock once it has started
        }
        Thread.sleep(3_000);
        assertTrue(p.isAlive(), "the job is training");
        List<ProcessHandle> ranks = p.descendants().filter(h -> h.info().commandLine().orElse("")
                .contains("dev.gatun.cli.GatunCli")).toList();
        assertEquals(3, ranks.size(), "three rank processes");
        ranks.get(1).destroyForcibly();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the job ends when a rank dies");
        assertNotEquals(0, p.exitValue());
        long gone = System.nanoTime() + TimeUnit.SECONDS.toNanos(15); // the others' JVMs end on mpirun's signals
        while (ranks.stream().anyMatch(ProcessHandle::isAlive) && System.nanoTime() < gone) {
            Thread.sleep(200);
        }
        assertTrue(ranks.stream().noneMatch(ProcessHandle::isAlive), "no rank process is left behind: "
                + ranks.stream().filter(ProcessHandle::isAlive).map(h -> h.pid() + " " + h.info().commandLine()
                .orElse("")).toList());
    }

    /** One training step's time per process count, each count its own mpirun job, in one table. */
    @Test
    void benchTrainTimesAStepPerProcessCount() {
        Cli.Run r = Cli.run("bench", "train", "--backend", "mpi", "--ranks", "1,2", "--steps", "1", "--warmup", "1");
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("one process per rank (MPI)"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("\\s+1 dp1 tp1 pp1 .* 1\\.00\\s+1\\.00")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("\\s+2 dp2 tp1 pp1 .*")), r.out());
    }

    /**
     * The two ranks of a dp2 job are given different models (2 and 3 layers), so their gradient reductions disagree:
     * the job ends within its timeout, a rank saying which call failed and on which ranks, and no process is left.
     */
    @Test
    void ranksWhoseCallsDisagreeEndTheJobNamingTheCall(@TempDir Path dir) throws Exception {
        List<String> rank = Jobs.gatun("train", "--dp", "2", "--steps", "2", "--timeout", "20s", "--out",
                dir.toString(), "--layers");
        List<String> cmd = new ArrayList<>(List.of("mpirun", "--oversubscribe", "-np", "1"));
        cmd.addAll(rank);
        cmd.addAll(List.of("2", ":", "-np", "1"));
        cmd.addAll(rank);
        cmd.add("3");
        ProcessBuilder pb = Jobs.asRoot(cmd).redirectErrorStream(true);
        Path log = dir.resolve("job.log");
        long start = System.nanoTime();
        Process p = pb.redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the job ends: " + Files.readString(log));
        double seconds = (System.nanoTime() - start) / 1e9;
        String text = Files.readString(log);
        assertNotEquals(0, p.exitValue(), text);
        assertTrue(Pattern.compile("(allReduce|reduceScatter|allGather) #\\d+ \\([^)]*\\)\\) on '[^']+' rank [01] of 2 "
                + "\\(ranks 0\\.\\.1\\) (failed in MPI|did not complete within)").matcher(text).find(), text);
        assertTrue(text.contains("ending the job"), text);
        assertTrue(seconds < 90, "ended by the failure or the 20 s timeout, in " + seconds + " s");
        assertTrue(p.descendants().noneMatch(ProcessHandle::isAlive), "no rank process is left behind");
    }
}
