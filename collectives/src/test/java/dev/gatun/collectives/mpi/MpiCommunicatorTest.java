package dev.gatun.collectives.mpi;

import dev.gatun.bindings.Mpi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Real MPI jobs: {@code mpirun -np N} processes of {@link MpiRankProgram}, each rank checking every operation of
 * {@link MpiCommunicator} against a float64 reference; and a job whose ranks disagree, which must end by its timeout
 * with the operation, its sequence number and the ranks named, and leave no process behind. Skipped with the reason
 * where Open MPI is not installed (Debian: {@code apt-get install openmpi-bin libopenmpi-dev}).
 */
@Timeout(120)
class MpiCommunicatorTest {
    @BeforeAll
    static void requireOpenMpi() {
        assumeTrue(onPath("mpirun"), "mpirun is not on PATH: install Open MPI (Debian: openmpi-bin libopenmpi-dev)");
        assumeTrue(Mpi.isAvailable(), "libmpi cannot be loaded: " + Mpi.unavailableReason());
    }

    static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }

    record Job(int exit, String out, String err, double seconds) {
    }

    /** {@code mpirun -np ranks java ... MpiRankProgram args}, as root where CI runs as root. */
    static Job mpirun(int ranks, String... args) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of("mpirun", "--oversubscribe", "-np", Integer.toString(ranks), java,
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                MpiRankProgram.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT", "1");
        pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        Path out = Files.createTempFile("mpi", ".out");
        Path err = Files.createTempFile("mpi", ".err");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        long start = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError("mpirun did not end within 90 s: " + Files.readString(err));
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        Job job = new Job(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8), seconds);
        Files.delete(out);
        Files.delete(err);
        return job;
    }

    @ParameterizedTest(name = "mpirun -np {0}")
    @ValueSource(ints = {2, 4})
    void everyOperationOnEveryRankEqualsTheFloat64Reference(int ranks) throws Exception {
        Job job = mpirun(ranks);
        assertEquals(0, job.exit(), job.out() + job.err());
        for (int r = 0; r < ranks; r++) {
            assertTrue(job.out().contains("rank " + r + " of " + ranks + ": "), "rank " + r + ":\n" + job.out());
        }
        assertEquals(ranks, job.out().lines().filter(l -> l.contains(" checks passed; ")).count(), job.out());
    }

    /**
     * Rank 1 skips an all-reduce the others make and waits in the barrier: the job ends at the 5 s timeout, the first
     * rank to time out naming its call (the all-reduce, or rank 1's barrier) and the ranks.
     */
    @Test
    void ranksThatDisagreeEndTheWholeJobByTheTimeoutWithAMessage() throws Exception {
        Job job = mpirun(3, "mismatch");
        assertEquals(MpiCommunicator.TIMEOUT_EXIT_CODE, job.exit(), job.out() + job.err());
        var timedOut = java.util.regex.Pattern.compile("gatun: (allReduce #0 \\(allReduce\\(fp32 × 4, sum\\)\\)"
                + "|barrier #0 \\(barrier\\(\\)\\)) on 'world' rank [0-2] of 3 \\(ranks 0\\.\\.2\\) did not complete "
                + "within PT5S");
        assertTrue(timedOut.matcher(job.err()).find(), job.err());
        assertTrue(job.err().contains("ending the job with MPI_Abort"), job.err());
        assertTrue(!job.out().contains("finished"), "no rank went on: " + job.out());
        assertTrue(job.seconds() < 60, "ended by the timeout, in " + job.seconds() + " s");
        assertTrue(ProcessHandle.allProcesses().noneMatch(h -> h.info().commandLine().orElse("")
                .contains(MpiRankProgram.class.getName())), "no rank process is left behind");
    }
}
