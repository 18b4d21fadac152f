package dev.gatun.cli;

import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.Transpose;
import dev.gatun.ops.cpu.CpuBackend;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code gatun bench gemm}: {@code C = A·B} on the CPU backend for square {@code n × n} matrices ({@code A}, {@code B}
 * fp32 or bf16, {@code C} fp32), one warm-up call whose result is checked against a float64 dot product, then the best
 * and the median of {@code --repeat} timed calls, as milliseconds and GFLOP/s = {@code 2n³ / t}. A quick check;
 * {@code CpuGemmBenchmark} under JMH ({@code jmh/gemm-vs-openblas.sh}) is the measurement of record.
 */
@Command(name = "gemm", mixinStandardHelpOptions = true,
        description = "Time the CPU backend's GEMM C = A·B on square matrices (a quick check; JMH is the reference).")
final class GemmBenchCommand implements Callable<Integer> {
    /** Entries of {@code C} compared with the float64 reference after the warm-up call. */
    private static final int CHECKED_ENTRIES = 16;
    /** Largest n: the inputs are also read back into {@code float[n·n]} arrays for the check. */
    private static final int MAX_SIZE = 8192;

    @Option(names = "--sizes", defaultValue = "256,512,1024", split = ",",
            description = "matrix sizes n (n x n), e.g. 256,512 (default ${DEFAULT-VALUE})")
    List<Integer> sizes;

    @Option(names = "--dtype", defaultValue = "fp32", description = "dtype of A and B: fp32 or bf16; C is fp32 "
            + "(default ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--repeat", defaultValue = "5", description = "timed calls per size (default ${DEFAULT-VALUE})")
    int repeat;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        DType type = switch (dtype.strip().toLowerCase(Locale.ROOT)) {
            case "fp32" -> DType.FP32;
            case "bf16" -> DType.BF16;
            default -> null;
        };
        String problem = type == null ? "--dtype " + dtype + " is not supported: expected fp32 or bf16"
                : repeat < 1 ? "--repeat " + repeat + " must be >= 1"
                : sizes.stream().anyMatch(n -> n < 1 || n > MAX_SIZE)
                ? "--sizes " + sizes + ": every size must be in [1, " + MAX_SIZE + "]" : null;
        if (problem != null) {
            err.println("gatun bench gemm: " + problem);
            err.flush();
            return CommandLine.ExitCode.USAGE;
        }
        out.printf(Locale.ROOT, "# CPU backend GEMM C = A·B, n x n, %s A and B, fp32 C, %d cores; one warm-up call "
                + "(checked against float64), then best and median of %d%n", type.shortName(),
                Runtime.getRuntime().availableProcessors(), repeat);
        out.println("# a quick check: the measurement of record is JMH (jmh/gemm-vs-openblas.sh)");
        out.printf("%8s %10s %10s %12s %12s%n", "n", "best ms", "median ms", "best GFLOP/s", "med GFLOP/s");
        out.flush();
        try (CpuBackend backend = new CpuBackend(); HostAllocator host = new HostAllocator()) {
            for (int n : sizes) {
                double[] seconds = time(backend, host, type, n);
                if (seconds == null) {
                    err.println("gatun bench gemm: n=" + n + ": the GEMM result differs from the float64 reference;"
                            + " the CPU GEMM is wrong, not slow (run the ops tests)");
                    err.flush();
                    return 1;
                }
                double best = seconds[0];
                double median = seconds[seconds.length / 2];
                double flops = 2.0 * n * n * n;
                out.printf(Locale.ROOT, "%8d %10.3f %10.3f %12.2f %12.2f%n", n, best * 1e3, median * 1e3,
                        flops / best / 1e9, flops / median / 1e9);
                out.flush();
            }
        }
        return 0;
    }

    /** The sorted times of the timed calls in seconds, or null when the warm-up call's result is wrong. */
    private double[] time(CpuBackend backend, HostAllocator host, DType type, int n) {
        var stream = backend.stream();
        Shape shape = Shape.of(n, n);
        try (Tensor a = Tensor.allocate(host, type, shape, MemoryCategory.ACTIVATIONS, "bench.gemm.a", stream);
             Tensor b = Tensor.allocate(host, type, shape, MemoryCategory.ACTIVATIONS, "bench.gemm.b", stream);
             Tensor c = Tensor.allocate(host, DType.FP32, shape, MemoryCategory.ACTIVATIONS, "bench.gemm.c", stream)) {
            SplittableRandom random = new SplittableRandom(42);
            a.copyFrom(randoms(random, n * n), stream);
            b.copyFrom(randoms(random, n * n), stream);
            c.fill(Float.NaN, stream); // beta = 0 must overwrite it
            backend.gemm(a, Transpose.NONE, b, Transpose.NONE, c, 1f, 0f);
            if (!matchesReference(a.toFloatArray(stream), b.toFloatArray(stream), c.toFloatArray(stream), n,
                    type == DType.FP32 ? 1e-5 : 1e-2, random)) {
                return null;
            }
            double[] seconds = new double[repeat];
            for (int r = 0; r < repeat; r++) {
                long start = System.nanoTime();
                backend.gemm(a, Transpose.NONE, b, Transpose.NONE, c, 1f, 0f);
                seconds[r] = (System.nanoTime() - start) / 1e9;
            }
            Arrays.sort(seconds);
            return seconds;
        }
    }

    private static float[] randoms(SplittableRandom random, int count) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (float) random.nextDouble(-1, 1);
        }
        return values;
    }

    /**
     * Whether {@link #CHECKED_ENTRIES} random entries of {@code c} match the float64 dot products of the (rounded)
     * inputs within {@code tolerance} times the sum of the products' magnitudes.
     */
    private static boolean matchesReference(float[] a, float[] b, float[] c, int n, double tolerance,
                                            SplittableRandom random) {
        for (int t = 0; t < CHECKED_ENTRIES; t++) {
            int i = random.nextInt(n);
            int j = random.nextInt(n);
            double dot = 0;
            double scale = 0;
            for (int p = 0; p < n; p++) {
                double product = (double) a[i * n + p] * b[p * n + j];
                dot += product;
                scale += Math.abs(product);
            }
            if (!(Math.abs(c[i * n + j] - dot) <= tolerance * scale)) {
                return false;
            }
        }
        return true;
    }
}
