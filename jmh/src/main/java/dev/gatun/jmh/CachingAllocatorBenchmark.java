package dev.gatun.jmh;

import dev.gatun.bindings.Cuda;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.Device;
import dev.gatun.memory.DeviceBuffer;
import dev.gatun.memory.MemoryCategory;
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

import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * Allocate-and-free latency on a CUDA device: the caching allocator (a cached block, no driver call) against raw
 * {@code cudaMalloc} + {@code cudaFree}. Needs a GPU; without one the setup fails with the reason.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class CachingAllocatorBenchmark {
    @Param({"4096", "1048576", "67108864"})
    public long bytes;

    private CudaStream stream;
    private CachingDeviceAllocator allocator;

    @Setup(Level.Trial)
    public void setUp() {
        CudaBenchDevice.requireGpu();
        Device gpu = Device.cuda(0);
        stream = new CudaStream(gpu);
        allocator = CachingDeviceAllocator.cuda(gpu);
        long first;
        try (DeviceBuffer b = allocator.allocate(MemoryCategory.WORKSPACE, "bench", bytes, stream)) {
            first = b.address();
        }
        try (DeviceBuffer b = allocator.allocate(MemoryCategory.WORKSPACE, "bench", bytes, stream)) {
            if (b.address() != first) {
                throw new IllegalStateException("the freed block was not reused");
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (allocator != null) {
            allocator.close();
            stream.close();
        }
    }

    @Benchmark
    public long cachedAllocFree() {
        try (DeviceBuffer b = allocator.allocate(MemoryCategory.WORKSPACE, "bench", bytes, stream)) {
            return b.address();
        }
    }

    @Benchmark
    public long cudaMallocFree() {
        MemorySegment p = Cuda.malloc(bytes);
        Cuda.free(p);
        return p.address();
    }
}
