package dev.gatun.jmh;

import dev.gatun.memory.DType;
import dev.gatun.ops.GemmSpec;
import dev.gatun.ops.Transpose;
import dev.gatun.ops.cpu.CpuGemm;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The CPU backend's fp32 GEMM {@code C = A·B} on square {@code n × n} off-heap matrices, on the common pool and the
 * calling thread (all cores). GFLOP/s = {@code 2n³} / time per operation; {@code jmh/gemm-vs-openblas.sh} prints it
 * next to numpy's (OpenBLAS) on the same machine. The result is checked once before timing: 64 random entries
 * against a float64 dot product.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
public class CpuGemmBenchmark {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    @Param({"1024", "2048"})
    public int n;

    private final CpuGemm gemm = new CpuGemm();
    private Arena arena;
    private GemmSpec spec;
    private MemorySegment a;
    private MemorySegment b;
    private MemorySegment c;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        spec = GemmSpec.of(Transpose.NONE, Transpose.NONE, n, n, n, DType.FP32, DType.FP32);
        long elements = (long) n * n;
        a = arena.allocate(elements * Float.BYTES, 64);
        b = arena.allocate(elements * Float.BYTES, 64);
        c = arena.allocate(elements * Float.BYTES, 64);
        SplittableRandom random = new SplittableRandom(42);
        for (long i = 0; i < elements; i++) {
            a.setAtIndex(FLOAT, i, (float) random.nextDouble(-1, 1));
            b.setAtIndex(FLOAT, i, (float) random.nextDouble(-1, 1));
            c.setAtIndex(FLOAT, i, Float.NaN); // beta = 0 must overwrite it
        }
        gemm();
        for (int t = 0; t < 64; t++) {
            int i = random.nextInt(n);
            int j = random.nextInt(n);
            double dot = 0;
            double scale = 0;
            for (int p = 0; p < n; p++) {
                double product = (double) a.getAtIndex(FLOAT, (long) i * n + p) * b.getAtIndex(FLOAT, (long) p * n + j);
                dot += product;
                scale += Math.abs(product);
            }
            float got = c.getAtIndex(FLOAT, (long) i * n + j);
            if (!(Math.abs(got - dot) <= 1e-5 * scale)) {
                throw new IllegalStateException("C[" + i + ", " + j + "] = " + got + " but the float64 dot product is "
                        + dot + " (n=" + n + ")");
            }
        }
    }

    @Benchmark
    public MemorySegment gemm() {
        gemm.gemm(spec, a, b, c);
        return c;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }
}
