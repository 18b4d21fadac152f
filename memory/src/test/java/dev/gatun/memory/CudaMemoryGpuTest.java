package dev.gatun.memory;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.MemcpyKind;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The caching allocator, streams and events on a real CUDA device; skipped with the reason where there is none. */
@Tag("gpu")
class CudaMemoryGpuTest {
    @BeforeAll
    static void requireGpu() {
        assumeTrue(Cuda.isAvailable(), () -> "no CUDA device: " + Cuda.unavailableReason());
    }

    @Test
    void buffersHoldDataAndAreReusedOnTheirStream() {
        Device gpu = Device.cuda(0);
        try (CudaStream stream = new CudaStream(gpu);
             CachingDeviceAllocator allocator = CachingDeviceAllocator.cuda(gpu);
             Arena arena = Arena.ofConfined()) {
            float[] data = new float[100_000];
            Random random = new Random();
            for (int i = 0; i < data.length; i++) {
                data[i] = random.nextFloat();
            }
            MemorySegment host = arena.allocateFrom(ValueLayout.JAVA_FLOAT, data);
            DeviceBuffer buffer = allocator.allocate(MemoryCategory.ACTIVATIONS, "x", host.byteSize(), stream);
            long address = buffer.address();
            DeviceEvent start = stream.record();
            Cuda.memcpyAsync(buffer.pointer(), host, host.byteSize(), MemcpyKind.HOST_TO_DEVICE, stream.handle());
            MemorySegment back = arena.allocate(host.byteSize());
            Cuda.memcpyAsync(back, buffer.pointer(), host.byteSize(), MemcpyKind.DEVICE_TO_HOST, stream.handle());
            DeviceEvent end = stream.record();
            end.synchronize();
            assertTrue(end.isComplete());
            assertTrue(end.elapsedMillisSince(start) >= 0);
            assertArrayEquals(data, back.toArray(ValueLayout.JAVA_FLOAT));
            buffer.close();
            DeviceBuffer again = allocator.allocate(MemoryCategory.ACTIVATIONS, "y", host.byteSize(), stream);
            assertEquals(address, again.address());
            again.close();
            start.close();
            end.close();
        }
    }

    @Test
    void anImpossibleRequestIsAnOutOfMemoryErrorWithTheDevicesFigures() {
        Device gpu = Device.cuda(0);
        try (CudaStream stream = new CudaStream(gpu); CachingDeviceAllocator allocator = CachingDeviceAllocator.cuda(gpu)) {
            var e = assertThrows(DeviceOutOfMemoryException.class,
                    () -> allocator.allocate(MemoryCategory.ACTIVATIONS, "huge", 1L << 50, stream));
            assertTrue(e.getMessage().contains("free of"), e.getMessage());
        }
    }
}
