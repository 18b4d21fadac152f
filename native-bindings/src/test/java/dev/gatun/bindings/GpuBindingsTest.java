package dev.gatun.bindings;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The bindings on a real GPU: memory round trips, streams and events, graphs, cuBLAS against a float64 reference,
 * NVRTC + cuLaunchKernel, NCCL. Skipped, with the reason, where no CUDA device is present.
 */
@Tag("gpu")
class GpuBindingsTest {
    private final Random random = new Random();

    @BeforeAll
    static void requireGpu() {
        assumeTrue(Cuda.isAvailable(), () -> "no CUDA device: " + Cuda.unavailableReason());
        Cuda.setDevice(0);
    }

    private static float[] randomFloats(Random random, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = random.nextFloat() * 2 - 1;
        }
        return a;
    }

    private static MemorySegment upload(Arena arena, float[] values) {
        MemorySegment host = arena.allocateFrom(ValueLayout.JAVA_FLOAT, values);
        MemorySegment device = Cuda.malloc(host.byteSize());
        Cuda.memcpy(device, host, host.byteSize(), MemcpyKind.HOST_TO_DEVICE);
        return device;
    }

    private static float[] download(Arena arena, MemorySegment device, int n) {
        MemorySegment host = arena.allocate(ValueLayout.JAVA_FLOAT, n);
        host.fill((byte) 0x7f); // poison: unwritten elements show
        Cuda.memcpy(host, device, host.byteSize(), MemcpyKind.DEVICE_TO_HOST);
        return host.toArray(ValueLayout.JAVA_FLOAT);
    }

    private static double relativeError(float[] out, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            num += (out[i] - ref[i]) * (out[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void mallocMemcpyRoundTripAndPointerAttributes() {
        try (Arena arena = Arena.ofConfined()) {
            float[] data = randomFloats(random, 1 << 20);
            MemorySegment device = upload(arena, data);
            try {
                assertArrayEquals(data, download(arena, device, data.length));
                Cuda.PointerAttributes attributes = Cuda.pointerAttributes(device);
                assertTrue(attributes.isDevice(), attributes.toString());
                assertEquals(0, attributes.device());
            } finally {
                Cuda.free(device);
            }
        }
    }

    @Test
    void pinnedMemoryStreamsEventsAndTiming() {
        long bytes = 64L << 20;
        MemorySegment pinned = Cuda.mallocHost(bytes);
        MemorySegment device = Cuda.malloc(bytes);
        MemorySegment stream = Cuda.streamCreate(true);
        MemorySegment start = Cuda.eventCreate(true, false);
        MemorySegment end = Cuda.eventCreate(true, false);
        try {
            for (long i = 0; i < bytes; i += 4) {
                pinned.set(ValueLayout.JAVA_INT, i, (int) (i * 2654435761L));
            }
            Cuda.eventRecord(start, stream);
            Cuda.memcpyAsync(device, pinned, bytes, MemcpyKind.HOST_TO_DEVICE, stream);
            Cuda.streamSynchronize(stream);
            pinned.fill((byte) 0);
            Cuda.memcpyAsync(pinned, device, bytes, MemcpyKind.DEVICE_TO_HOST, stream);
            Cuda.eventRecord(end, stream);
            Cuda.eventSynchronize(end);
            assertTrue(Cuda.eventQuery(end));
            assertTrue(Cuda.streamQuery(stream));
            float ms = Cuda.eventElapsedMillis(start, end);
            assertTrue(ms > 0, "elapsed " + ms + " ms");
            for (long i = 0; i < bytes; i += 4096) {
                assertEquals((int) (i * 2654435761L), pinned.get(ValueLayout.JAVA_INT, i), "at byte " + i);
            }
        } finally {
            Cuda.eventDestroy(start);
            Cuda.eventDestroy(end);
            Cuda.streamDestroy(stream);
            Cuda.free(device);
            Cuda.freeHost(pinned);
        }
    }

    @Test
    void aCapturedGraphReplaysItsWork() {
        try (Arena arena = Arena.ofConfined()) {
            float[] data = randomFloats(random, 4096);
            MemorySegment src = upload(arena, data);
            MemorySegment dst = Cuda.malloc(data.length * 4L);
            MemorySegment stream = Cuda.streamCreate(true);
            try {
                Cuda.streamBeginCapture(stream, CaptureMode.THREAD_LOCAL);
                Cuda.memsetAsync(dst, 0, data.length * 4L, stream);
                Cuda.memcpyAsync(dst, src, data.length * 4L, MemcpyKind.DEVICE_TO_DEVICE, stream);
                MemorySegment graph = Cuda.streamEndCapture(stream);
                MemorySegment exec = Cuda.graphInstantiate(graph);
                Cuda.graphLaunch(exec, stream);
                Cuda.streamSynchronize(stream);
                assertArrayEquals(data, download(arena, dst, data.length));
                Cuda.graphExecDestroy(exec);
                Cuda.graphDestroy(graph);
            } finally {
                Cuda.streamDestroy(stream);
                Cuda.free(src);
                Cuda.free(dst);
            }
        }
    }

    /** Column-major reference C = A·B (A m×k, B k×n) in float64. */
    private static double[] gemmReference(float[] a, float[] b, int m, int n, int k) {
        double[] c = new double[m * n];
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (double) a[i + p * m] * b[p + j * k];
                }
                c[i + j * m] = s;
            }
        }
        return c;
    }

    @Test
    void cublasSgemmMatchesAFloat64Reference() {
        int m = 192, n = 160, k = 224;
        MemorySegment handle = Cublas.create();
        try (Arena arena = Arena.ofConfined()) {
            float[] a = randomFloats(random, m * k);
            float[] b = randomFloats(random, k * n);
            MemorySegment da = upload(arena, a), db = upload(arena, b);
            MemorySegment dc = upload(arena, randomFloats(random, m * n)); // beta = 0 must ignore it
            Cublas.sgemm(handle, Cublas.Operation.NONE, Cublas.Operation.NONE, m, n, k, 1f, da, m, db, k, 0f, dc, m);
            Cuda.deviceSynchronize();
            double err = relativeError(download(arena, dc, m * n), gemmReference(a, b, m, n, k));
            assertTrue(err < 1e-5, "relative error " + err);
            List.of(da, db, dc).forEach(Cuda::free);
        } finally {
            Cublas.destroy(handle);
        }
    }

    @Test
    void cublasGemmExBf16InputsFp32Accumulation() {
        int m = 128, n = 96, k = 256;
        MemorySegment handle = Cublas.create();
        try (Arena arena = Arena.ofConfined()) {
            // bf16 inputs: the top 16 bits of random floats; the reference uses exactly those values
            float[] a = randomFloats(random, m * k), b = randomFloats(random, k * n);
            MemorySegment ha = arena.allocate(ValueLayout.JAVA_SHORT, a.length);
            MemorySegment hb = arena.allocate(ValueLayout.JAVA_SHORT, b.length);
            for (int i = 0; i < a.length; i++) {
                short bits = (short) (Float.floatToRawIntBits(a[i]) >>> 16);
                ha.setAtIndex(ValueLayout.JAVA_SHORT, i, bits);
                a[i] = Float.intBitsToFloat(bits << 16);
            }
            for (int i = 0; i < b.length; i++) {
                short bits = (short) (Float.floatToRawIntBits(b[i]) >>> 16);
                hb.setAtIndex(ValueLayout.JAVA_SHORT, i, bits);
                b[i] = Float.intBitsToFloat(bits << 16);
            }
            MemorySegment da = Cuda.malloc(ha.byteSize()), db = Cuda.malloc(hb.byteSize());
            Cuda.memcpy(da, ha, ha.byteSize(), MemcpyKind.HOST_TO_DEVICE);
            Cuda.memcpy(db, hb, hb.byteSize(), MemcpyKind.HOST_TO_DEVICE);
            MemorySegment dc = upload(arena, randomFloats(random, m * n));
            Cublas.gemmEx(handle, Cublas.Operation.NONE, Cublas.Operation.NONE, m, n, k, 1.0, da,
                    Cublas.DataType.BF16, m, db, Cublas.DataType.BF16, k, 0.0, dc, Cublas.DataType.FP32, m,
                    Cublas.ComputeType.FP32);
            Cuda.deviceSynchronize();
            double err = relativeError(download(arena, dc, m * n), gemmReference(a, b, m, n, k));
            assertTrue(err < 1e-5, "relative error " + err);
            List.of(da, db, dc).forEach(Cuda::free);
        } finally {
            Cublas.destroy(handle);
        }
    }

    @Test
    void nvrtcCompilesAKernelThatCuLaunchKernelRuns() {
        int major = Cuda.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR, 0);
        int minor = Cuda.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MINOR, 0);
        String source = """
                extern "C" __global__ void axpy(float a, const float* x, float* y, int n) {
                    int i = blockIdx.x * blockDim.x + threadIdx.x;
                    if (i < n) y[i] = a * x[i] + y[i];
                }
                """;
        Nvrtc.Compiled compiled = Nvrtc.compile(source, "axpy.cu",
                List.of("--gpu-architecture=sm_" + major + minor, "-O3"));
        assertTrue(compiled.cubin().length > 0, "no CUBIN; log: " + compiled.log());
        MemorySegment module = CudaDriver.moduleLoadData(compiled.cubin());
        try (Arena arena = Arena.ofConfined()) {
            int n = 100_003;
            float[] x = randomFloats(random, n), y = randomFloats(random, n);
            MemorySegment dx = upload(arena, x), dy = upload(arena, y);
            MemorySegment kernel = CudaDriver.moduleGetFunction(module, "axpy");
            var args = new KernelArguments(arena).f32(2.5f).pointer(dx).pointer(dy).i32(n);
            CudaDriver.launchKernel(kernel, (n + 255) / 256, 1, 1, 256, 1, 1, 0, MemorySegment.NULL, args.array());
            Cuda.deviceSynchronize();
            float[] out = download(arena, dy, n);
            for (int i = 0; i < n; i++) {
                assertEquals(2.5f * x[i] + y[i], out[i], 1e-6f, "element " + i);
            }
            Cuda.free(dx);
            Cuda.free(dy);
        } finally {
            CudaDriver.moduleUnload(module);
        }
    }

    @Test
    void nvrtcReportsACompileErrorWithItsLog() {
        var e = org.junit.jupiter.api.Assertions.assertThrows(NvrtcException.class,
                () -> Nvrtc.compile("extern \"C\" __global__ void k() { int x = ; }", "broken.cu", List.of()));
        assertEquals("NVRTC_ERROR_COMPILATION", e.codeName());
        assertTrue(e.log().contains("broken.cu"), e.log());
    }

    @Test
    void ncclVersionAndAOneRankAllReduce() {
        assertTrue(Nccl.version() >= 21800, "NCCL " + Nccl.versionString(Nccl.version()));
        MemorySegment comm = Nccl.commInitRank(1, Nccl.uniqueId(), 0);
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(1, Nccl.commCount(comm));
            assertEquals(0, Nccl.commUserRank(comm));
            float[] data = randomFloats(random, 10_000);
            MemorySegment buf = upload(arena, data);
            MemorySegment out = Cuda.malloc(data.length * 4L);
            Nccl.allReduce(buf, out, data.length, Nccl.DataType.FP32, Nccl.ReduceOp.SUM, comm, MemorySegment.NULL);
            Cuda.deviceSynchronize();
            assertArrayEquals(data, download(arena, out, data.length));
            assertEquals(0, Nccl.commAsyncError(comm));
            Cuda.free(buf);
            Cuda.free(out);
        } finally {
            Nccl.commDestroy(comm);
        }
    }

    @Test
    void ncclAllReduceAcrossEveryLocalGpu() {
        int n = Cuda.deviceCount();
        assumeTrue(n >= 2, "multi-rank NCCL needs >= 2 GPUs; this machine has " + n);
        int[] devices = new int[n];
        for (int i = 0; i < n; i++) {
            devices[i] = i;
        }
        List<MemorySegment> comms = Nccl.commInitAll(devices);
        int count = 1 << 16;
        try (Arena arena = Arena.ofConfined()) {
            List<float[]> inputs = new ArrayList<>();
            List<MemorySegment> buffers = new ArrayList<>(), streams = new ArrayList<>();
            for (int d = 0; d < n; d++) {
                Cuda.setDevice(d);
                float[] data = randomFloats(random, count);
                inputs.add(data);
                buffers.add(upload(arena, data));
                streams.add(Cuda.streamCreate(true));
            }
            Nccl.groupStart();
            for (int d = 0; d < n; d++) {
                Nccl.allReduce(buffers.get(d), buffers.get(d), count, Nccl.DataType.FP32, Nccl.ReduceOp.SUM,
                        comms.get(d), streams.get(d));
            }
            Nccl.groupEnd();
            double[] expected = new double[count];
            inputs.forEach(in -> {
                for (int i = 0; i < count; i++) {
                    expected[i] += in[i];
                }
            });
            for (int d = 0; d < n; d++) {
                Cuda.setDevice(d);
                Cuda.streamSynchronize(streams.get(d));
                double err = relativeError(download(arena, buffers.get(d), count), expected);
                assertTrue(err < 1e-6, "device " + d + " relative error " + err);
                Cuda.streamDestroy(streams.get(d));
                Cuda.free(buffers.get(d));
            }
        } finally {
            comms.forEach(Nccl::commDestroy);
            Cuda.setDevice(0);
        }
    }
}
