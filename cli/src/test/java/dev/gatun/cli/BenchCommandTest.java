package dev.gatun.cli;

import dev.gatun.bindings.Cuda;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** {@code gatun bench gemm | comm | train}: the tables, and one line on stderr with exit 2 for bad arguments. */
@Timeout(30)
class BenchCommandTest {
    /** Standard output and standard error of one run. */
    private record Output(String out, String err) {
    }

    private static Output run(int expectedExit, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = GatunCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        assertEquals(expectedExit, exit, () -> out + "\n" + err);
        return new Output(out.toString(), err.toString());
    }

    @Test
    void gemmPrintsARowPerSizeWithPositiveGflops() {
        String text = run(0, "bench", "gemm", "--sizes", "64,128", "--repeat", "2").out();
        assertTrue(text.contains("JMH (jmh/gemm-vs-openblas.sh)"), text);
        for (int n : new int[]{64, 128}) {
            Matcher row = Pattern.compile("(?m)^\\s+" + n + "\\s+[\\d.]+\\s+[\\d.]+\\s+([\\d.]+)\\s+([\\d.]+)$")
                    .matcher(text);
            assertTrue(row.find(), text);
            assertTrue(Double.parseDouble(row.group(1)) > 0, text);
            assertTrue(Double.parseDouble(row.group(2)) > 0, text);
        }
    }

    @Test
    void gemmRefusesAnUnsupportedDtypeInOneLine() {
        Output o = run(2, "bench", "gemm", "--dtype", "fp8");
        assertEquals(1, o.err().strip().lines().count(), o.err());
        assertTrue(o.err().contains("expected fp32 or bf16"), o.err());
    }

    @Test
    void commIsCommBenchUnderAnotherName() {
        String text = run(0, "bench", "comm", "--ranks", "2", "--op", "all_reduce", "-b", "4096", "-e", "4096",
                "-n", "1", "-w", "0").out();
        assertTrue(text.contains("# all_reduce, 2 ranks"), text);
    }

    @Test
    void trainPrintsARowPerRankCount() {
        String text = run(0, "bench", "train", "--ranks", "1,2", "--steps", "1", "--warmup", "0").out();
        Matcher rows = Pattern.compile("(?m)^\\s+([12])\\s+dp\\d.*\\s([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+-$")
                .matcher(text);
        int count = 0;
        while (rows.find()) {
            count++;
            assertTrue(Double.parseDouble(rows.group(2)) > 0, text);
        }
        assertEquals(2, count, text);
        assertTrue(text.contains(Runtime.getRuntime().availableProcessors() + " cores"), text);
    }

    @Test
    void trainRefusesTensorParallelismThatDoesNotDivideTheHeads() {
        Output o = run(2, "bench", "train", "--mode", "tp", "--ranks", "3");
        assertEquals(1, o.err().strip().lines().count(), o.err());
        assertTrue(o.err().contains("must divide the model's 4 attention heads"), o.err());
        assertEquals("", o.out());
    }

    @Test
    void trainOnCudaWithTooFewGpusSaysWhy() {
        Output o = run(2, "bench", "train", "--backend", "cuda", "--ranks", "1,64");
        assertEquals(1, o.err().strip().lines().count(), o.err());
        assertTrue(o.err().contains(dev.gatun.bindings.Cuda.isAvailable() ? "the layout has 64 ranks but this "
                + "machine has" : "--device cuda: no CUDA device: "), o.err());
        assertEquals("", o.out());
    }

    @Test
    void kernelsWithoutAGpuSayWhyInOneLine() {
        assumeFalse(Cuda.isAvailable(), "a GPU is present");
        Output o = run(1, "bench", "kernels", "--cache", "/tmp/gatun-kernel-cache-test");
        assertEquals(1, o.err().strip().lines().count(), o.err());
        assertTrue(o.err().startsWith("gatun bench kernels: no CUDA device: "), o.err());
        assertEquals("", o.out());
    }
}
