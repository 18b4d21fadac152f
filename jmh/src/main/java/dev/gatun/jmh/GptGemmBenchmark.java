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
 * The CPU backend's fp32 GEMM at every shape a GPT-2 124M training step runs (C = 768, vocabulary 50,304), with
 * {@code tokens} = B·T rows, in the layers' own transposes: weights are stored {@code [out × in]}, so the forward is
 * {@code Y = X·Wᵀ} (NT), the input gradient {@code dX = dY·W} (NN) and the weight gradient {@code dW = dYᵀ·X} (TN,
 * accumulated: beta = 1). GFLOP/s = {@code 2mnk} / time; {@code jmh/gemm-vs-openblas.sh} runs numpy's
 * {@code x @ w.T}, {@code dy @ w} and {@code dy.T @ x} at the same shapes in the same run and prints the ratios.
 * Each shape is checked once before timing: 32 random entries against a float64 dot product.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
public class GptGemmBenchmark {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    /** {@code layer.pass}: qkv, proj, fc, fc2, head × fwd, dx, dw. */
    @Param({"qkv.fwd", "qkv.dx", "qkv.dw", "proj.fwd", "proj.dx", "proj.dw", "fc.fwd", "fc.dx", "fc.dw",
            "fc2.fwd", "fc2.dx", "fc2.dw", "head.fwd", "head.dx", "head.dw"})
    public String shape;

    /** B·T, the rows of the activations. */
    @Param({"256", "1024"})
    public int tokens;

    private final CpuGemm gemm = new CpuGemm();
    private Arena arena;
    private GemmSpec spec;
    private MemorySegment a;
    private MemorySegment b;
    private MemorySegment c;

    /** The (in, out) sizes of a layer of GPT-2 124M. */
    static int[] layer(String name) {
        return switch (name) {
            case "qkv" -> new int[] {768, 2304};
            case "proj" -> new int[] {768, 768};
            case "fc" -> new int[] {768, 3072};
            case "fc2" -> new int[] {3072, 768};
            case "head" -> new int[] {768, 50304};
            default -> throw new IllegalArgumentException("unknown layer " + name);
        };
    }

    /** The product of {@code pass} (fwd, dx, dw) of a layer with {@code in → out} and {@code tokens} rows. */
    static GemmSpec spec(String pass, int in, int out, int tokens) {
        return switch (pass) {
            case "fwd" -> GemmSpec.of(Transpose.NONE, Transpose.TRANSPOSE, tokens, out, in, DType.FP32, DType.FP32);
            case "dx" -> GemmSpec.of(Transpose.NONE, Transpose.NONE, tokens, in, out, DType.FP32, DType.FP32);
            case "dw" -> GemmSpec.of(Transpose.TRANSPOSE, Transpose.NONE, out, in, tokens, DType.FP32, DType.FP32)
                    .withScale(1f, 1f);
            default -> throw new IllegalArgumentException("unknown pass " + pass);
        };
    }

    @Setup(Level.Trial)
    public void setUp() {
        String[] parts = shape.split("\\.");
        int[] io = layer(parts[0]);
        spec = spec(parts[1], io[0], io[1], tokens);
        arena = Arena.ofShared();
        long aElements = (long) spec.storedRowsA() * spec.storedColsA();
        long bElements = (long) spec.storedRowsB() * spec.storedColsB();
        long cElements = (long) spec.m() * spec.n();
        a = arena.allocate(aElements * Float.BYTES, 64);
        b = arena.allocate(bElements * Float.BYTES, 64);
        c = arena.allocate(cElements * Float.BYTES, 64);
        SplittableRandom random = new SplittableRandom(42);
        fill(a, aElements, random);
        fill(b, bElements, random);
        // beta = 1 for dW: keep C small and finite; it only grows by the products over the timed calls.
        MemorySegment c0 = arena.allocate(cElements * Float.BYTES, 64);
        fill(c0, cElements, random);
        c.copyFrom(c0);
        gemm();
        for (int t = 0; t < 32; t++) {
            int i = random.nextInt(spec.m());
            int j = random.nextInt(spec.n());
            double dot = spec.beta() * c0.getAtIndex(FLOAT, (long) i * spec.n() + j);
            double scale = Math.abs(dot);
            for (int p = 0; p < spec.k(); p++) {
                double product = (double) opA(i, p) * opB(p, j);
                dot += product;
                scale += Math.abs(product);
            }
            float got = c.getAtIndex(FLOAT, (long) i * spec.n() + j);
            if (!(Math.abs(got - dot) <= 1e-5 * scale)) {
                throw new IllegalStateException("C[" + i + ", " + j + "] = " + got + " but the float64 dot product is "
                        + dot + " (" + shape + ", tokens=" + tokens + ")");
            }
        }
    }

    private float opA(int i, int p) {
        long index = spec.transA().isTransposed() ? (long) p * spec.m() + i : (long) i * spec.k() + p;
        return a.getAtIndex(FLOAT, index);
    }

    private float opB(int p, int j) {
        long index = spec.transB().isTransposed() ? (long) j * spec.k() + p : (long) p * spec.n() + j;
        return b.getAtIndex(FLOAT, index);
    }

    private static void fill(MemorySegment segment, long elements, SplittableRandom random) {
        for (long i = 0; i < elements; i++) {
            segment.setAtIndex(FLOAT, i, (float) random.nextDouble(-1, 1));
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
