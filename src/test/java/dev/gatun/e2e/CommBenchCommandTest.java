package dev.gatun.e2e;

import dev.gatun.bindings.Cuda;
import dev.gatun.cli.GatunCli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code gatun comm-bench}: the nccl-tests-style table on the in-process backend; NCCL explains when it cannot run. */
@Timeout(120)
class CommBenchCommandTest {
    private static String run(int expectedExit, String... args) {
        StringWriter out = new StringWriter();
        CommandLine cli = GatunCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(out));
        assertEquals(expectedExit, cli.execute(args), out::toString);
        return out.toString();
    }

    @Test
    void inProcessSweepPrintsOneRowPerSizeWithBusBandwidth() {
        String text = run(0, "comm-bench", "--ranks", "3", "--op", "all", "-b", "4096", "-e", "65536", "-f", "16",
                "-n", "2", "-w", "1");
        for (String op : new String[]{"all_reduce", "reduce_scatter", "all_gather"}) {
            assertTrue(text.contains("# " + op + ", 3 ranks"), text);
        }
        // all-reduce of 4092 B (4096 rounded down to 3 ranks x 4 bytes): busbw = algbw * 2(n-1)/n
        Matcher row = Pattern.compile("\\s+4092\\s+1023\\s+fp32 all_reduce\\s+[\\d.]+\\s+([\\d.]+)\\s+([\\d.]+)")
                .matcher(text);
        assertTrue(row.find(), text);
        double algbw = Double.parseDouble(row.group(1));
        double busbw = Double.parseDouble(row.group(2));
        assertEquals(algbw * 4 / 3, busbw, 0.002 + algbw * 0.01, text);
        // 3 ranks on this machine's cores: the bound uses the copy bandwidth of as many threads as run at once
        int threads = Math.min(3, Runtime.getRuntime().availableProcessors());
        assertTrue(text.contains("busbw / memcpy of " + threads + " thread"), text);
        assertTrue(text.contains("the memory-traffic bound of 3 ranks with buffers of their own is 0.444"), text);
    }

    @Test
    void ncclSweepSaysWhyItCannotRunWithoutTwoGpus() {
        if (Cuda.isAvailable() && Cuda.deviceCount() >= 2) {
            return; // the sweep itself is the GPU box's scaling run, not a unit test
        }
        String text = run(0, "comm-bench", "--backend", "nccl");
        assertTrue(text.contains("needs at least 2 CUDA GPUs"), text);
    }

    /** One mpirun job per rank count; rank 0 prints the nccl-tests rows and the shared-memory bound. */
    @Test
    void mpiSweepRunsOneMpirunJobPerRankCount() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Jobs.onPath("mpirun"), "mpirun is not on PATH: install Open MPI (Debian: openmpi-bin libopenmpi-dev)");
        String text = run(0, "comm-bench", "--backend", "mpi", "--ranks", "2", "--op", "all_gather", "-b", "4K", "-e",
                "16K", "-n", "2", "-w", "1");
        assertTrue(text.contains("# MPI backend (Open MPI v") && text.contains("2 processes"), text);
        assertTrue(text.contains("# all_gather, 2 ranks"), text);
        assertEquals(2, text.lines().filter(l -> l.matches("\\s+(4096|16384)\\s+\\d+\\s+fp32 all_gather.*")).count(),
                text);
        assertTrue(text.contains("the memory-traffic bound of 2 ranks on one node is"), text);
    }

    @Test
    void sizesTakeTheSuffixesOfNcclTests() {
        String text = run(0, "comm-bench", "--ranks", "2", "--op", "all_reduce", "-b", "1K", "-e", "4KiB", "-f", "4",
                "-n", "1", "-w", "0");
        assertTrue(text.contains("# all_reduce, 2 ranks, 4096 B"), text);
    }

    @Test
    void badArgumentsAreRefused() {
        assertTrue(run(2, "comm-bench", "--backend", "carrier-pigeon").contains("unknown backend"));
    }
}
