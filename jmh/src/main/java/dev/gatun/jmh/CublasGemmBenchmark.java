package dev.gatun.jmh;

import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.DType;
import dev.gatun.memory.HalfFloats;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.Transpose;
import dev.gatun.ops.cuda.CudaBackend;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * cuBLAS bf16 GEMM issued from Java through the CUDA backend: {@code C[n, n] = A·B} with bf16 A, B, fp32
 * accumulation and bf16 C; 10 GEMMs per invocation then one stream synchronisation, so the figure is device
 * throughput (TFLOP/s = 2n³ / time per GEMM). {@code jmh/cublas-vs-torch.sh} compares it with {@code torch.matmul}.
 * Needs a GPU; without one the setup fails with the reason.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class CublasGemmBenchmark {
    private static final int GEMMS = 10;

    @Param({"8192"})
    public int n;

    private CudaBenchDevice gpu;
    private CudaStream stream;
    private CachingDeviceAllocator memory;
    private CudaBackend backend;
    private Tensor a;
    private Tensor b;
    private Tensor c;

    @Setup(Level.Trial)
    public void setUp() {
        gpu = CudaBenchDevice.open();
        stream = gpu.stream();
        memory = gpu.memory();
        backend = gpu.backend();
        a = Tensor.allocate(memory, DType.BF16, Shape.of(n, n), MemoryCategory.ACTIVATIONS, "A", stream);
        b = Tensor.allocate(memory, DType.BF16, Shape.of(n, n), MemoryCategory.ACTIVATIONS, "B", stream);
        c = Tensor.allocate(memory, DType.BF16, Shape.of(n, n), MemoryCategory.ACTIVATIONS, "C", stream);
        Random random = new Random(1);
        float[] av = new float[n * n];
        float[] bv = new float[n * n];
        for (int i = 0; i < av.length; i++) {
            av[i] = (float) random.nextGaussian();
            bv[i] = (float) random.nextGaussian();
        }
        a.copyFrom(av, stream);
        b.copyFrom(bv, stream);
        gemm();
        float[] cv = c.toFloatArray(stream);
        for (int probe = 0; probe < 16; probe++) {
            int i = random.nextInt(n);
            int j = random.nextInt(n);
            double expected = 0;
            for (int k = 0; k < n; k++) {
                expected += (double) round(av[i * n + k]) * round(bv[k * n + j]);
            }
            double tolerance = 1e-2 * Math.sqrt(n) + Math.abs(expected) * 1e-2;
            if (Math.abs(cv[i * n + j] - expected) > tolerance) {
                throw new IllegalStateException("C[" + i + ", " + j + "] = " + cv[i * n + j] + ", expected " + expected);
            }
        }
    }

    private static float round(float x) {
        return HalfFloats.bf16BitsToFloat(HalfFloats.floatToBf16Bits(x));
    }

    private void gemm() {
        backend.gemm(a, Transpose.NONE, b, Transpose.NONE, c, 1, 0);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (gpu != null) {
            a.close();
            b.close();
            c.close();
            gpu.close();
        }
    }

    @Benchmark
    @OperationsPerInvocation(GEMMS)
    public void bf16Gemm() {
        for (int i = 0; i < GEMMS; i++) {
            gemm();
        }
        stream.synchronize();
    }
}
