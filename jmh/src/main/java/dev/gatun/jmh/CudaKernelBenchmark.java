package dev.gatun.jmh;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.DeviceAttribute;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.AdamWStep;
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

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Time per call of the CUDA backend's memory-bound kernels at GPT-2 small sizes (B=8, T=1024, C=768, V=50304), 20
 * calls per invocation then one stream synchronisation. Each kernel's bytes moved (each element read or written once)
 * divided by its time is its achieved bandwidth; the setup prints those bytes and the device's peak bandwidth (2 ×
 * memory clock × bus width) so the ratio can be read off: achieved = bytes / (ms · 1e6) GB/s. Needs a GPU.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class CudaKernelBenchmark {
    private static final int CALLS = 20;
    private static final int B = 8;
    private static final int T = 1024;
    private static final int C = 768;
    private static final int V = 50304;

    @Param({"gelu", "layerNorm", "crossEntropy", "adamW"})
    public String op;

    private CudaBenchDevice gpu;
    private CudaStream stream;
    private CachingDeviceAllocator memory;
    private CudaBackend backend;
    private final List<Tensor> tensors = new ArrayList<>();
    private Runnable call;

    private Tensor tensor(DType dtype, long... dims) {
        Tensor t = Tensor.allocate(memory, dtype, Shape.of(dims), MemoryCategory.ACTIVATIONS, "bench", stream);
        tensors.add(t);
        return t;
    }

    private Tensor random(long... dims) {
        Tensor t = tensor(DType.FP32, dims);
        float[] v = new float[(int) t.numel()];
        Random r = new Random(t.numel());
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        t.copyFrom(v, stream);
        return t;
    }

    @Setup(Level.Trial)
    public void setUp() {
        gpu = CudaBenchDevice.open();
        stream = gpu.stream();
        memory = gpu.memory();
        backend = gpu.backend();
        int n = B * T;
        long bytes;
        switch (op) {
            case "gelu" -> {
                Tensor in = random(n, 4L * C);
                Tensor out = tensor(DType.FP32, n, 4L * C);
                call = () -> backend.gelu(in, out);
                bytes = 2L * in.byteSize();
            }
            case "layerNorm" -> {
                Tensor in = random(n, C);
                Tensor w = random(C);
                Tensor b = random(C);
                Tensor out = tensor(DType.FP32, n, C);
                Tensor mean = tensor(DType.FP32, n);
                Tensor rstd = tensor(DType.FP32, n);
                call = () -> backend.layerNorm(in, w, b, 1e-5f, out, mean, rstd);
                bytes = 2L * in.byteSize() + 8L * n;
            }
            case "crossEntropy" -> {
                Tensor logits = random(n, V);
                Tensor targets = tensor(DType.INT32, n);
                targets.fill(7, stream);
                Tensor losses = tensor(DType.FP32, n);
                call = () -> backend.crossEntropy(logits, targets, 1f / n, losses, logits);
                bytes = 2L * logits.byteSize(); // read once, gradient written in place
            }
            case "adamW" -> {
                int params = 124_000_000;
                Tensor p = random(params);
                Tensor g = random(params);
                Tensor m = tensor(DType.FP32, params);
                Tensor v = tensor(DType.FP32, params);
                m.fill(0, stream);
                v.fill(0, stream);
                AdamWStep step = new AdamWStep(1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
                call = () -> backend.adamW(p, g, m, v, step);
                bytes = 7L * p.byteSize(); // read p, g, m, v; write p, m, v
            }
            default -> throw new IllegalArgumentException("unknown op " + op);
        }
        call.run();
        stream.synchronize();
        long clockKhz = Cuda.deviceAttribute(DeviceAttribute.MEMORY_CLOCK_RATE_KHZ, 0);
        long busBits = Cuda.deviceAttribute(DeviceAttribute.GLOBAL_MEMORY_BUS_WIDTH_BITS, 0);
        System.out.printf("%n# %s moves %d bytes per call; device peak %.0f GB/s%n", op, bytes,
                2.0 * clockKhz * 1e3 * busBits / 8 / 1e9);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (gpu != null) {
            tensors.forEach(Tensor::close);
            gpu.close();
        }
    }

    @Benchmark
    @OperationsPerInvocation(CALLS)
    public void kernel() {
        for (int i = 0; i < CALLS; i++) {
            call.run();
        }
        stream.synchronize();
    }
}
