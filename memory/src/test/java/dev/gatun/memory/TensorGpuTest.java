package dev.gatun.memory;

import dev.gatun.bindings.Cuda;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Tensors on a real CUDA device: copies both ways, device fills, pinned staging; skipped where there is none. */
@Tag("gpu")
class TensorGpuTest {
    private static final Device GPU = Device.cuda(0);

    @BeforeAll
    static void requireGpu() {
        assumeTrue(Cuda.isAvailable(), () -> "no CUDA device: " + Cuda.unavailableReason());
    }

    @Test
    void randomDataSurvivesHostDeviceHostForEveryDtype() {
        Random random = new Random();
        try (CudaStream stream = new CudaStream(GPU); CachingDeviceAllocator device = CachingDeviceAllocator.cuda(GPU);
             HostAllocator host = new HostAllocator()) {
            for (DType dtype : DType.values()) {
                Shape shape = Shape.of(37, 129);
                try (Tensor h = Tensor.allocate(host, dtype, shape, MemoryCategory.ACTIVATIONS, "h", stream);
                     Tensor d = Tensor.allocate(device, dtype, shape, MemoryCategory.ACTIVATIONS, "d", stream);
                     Tensor d2 = Tensor.allocate(device, dtype, shape, MemoryCategory.ACTIVATIONS, "d2", stream);
                     Tensor back = Tensor.allocate(host, dtype, shape, MemoryCategory.ACTIVATIONS, "back", stream)) {
                    random.ints(h.byteSize(), 0, 256).forEach(new java.util.function.IntConsumer() {
                        long i;

                        @Override
                        public void accept(int b) {
                            h.hostSegment().set(java.lang.foreign.ValueLayout.JAVA_BYTE, i++, (byte) b);
                        }
                    });
                    back.fill(0, stream);
                    d.copyFrom(h, stream);
                    d2.copyFrom(d, stream);
                    back.copyFrom(d2, stream);
                    stream.synchronize();
                    assertEquals(-1, h.hostSegment().mismatch(back.hostSegment()), dtype.shortName());
                }
            }
        }
    }

    @Test
    void deviceFillsAndArrayCopiesMatchTheHost() {
        try (CudaStream stream = new CudaStream(GPU); CachingDeviceAllocator device = CachingDeviceAllocator.cuda(GPU)) {
            for (DType dtype : DType.values()) {
                try (Tensor d = Tensor.allocate(device, dtype, Shape.of(1001), MemoryCategory.ACTIVATIONS, "d", stream)) {
                    double value = dtype.isFloatingPoint() ? -2.75 : (dtype == DType.INT64 ? 0x1p40 + 3 : -123456);
                    d.fill(value, stream);
                    d.slice(10, 20).fill(dtype == DType.INT64 ? -5 : 7, stream);
                    switch (dtype) {
                        case INT32 -> {
                            int[] v = d.toIntArray(stream);
                            assertEquals(-123456, v[0]);
                            assertEquals(7, v[15]);
                        }
                        case INT64 -> {
                            long[] v = d.toLongArray(stream);
                            assertEquals((1L << 40) + 3, v[1000]);
                            assertEquals(-5, v[10]);
                        }
                        default -> {
                            float[] v = d.toFloatArray(stream);
                            assertEquals(-2.75f, v[999]);
                            assertEquals(7f, v[19]);
                            assertEquals(-2.75f, v[20]);
                        }
                    }
                }
            }
            try (Tensor d = Tensor.allocate(device, DType.BF16, Shape.of(3, 333), MemoryCategory.ACTIVATIONS, "x", stream)) {
                float[] v = new float[999];
                Random random = new Random();
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) random.nextGaussian();
                }
                d.copyFrom(v, stream);
                float[] back = d.toFloatArray(stream);
                for (int i = 0; i < v.length; i++) {
                    assertEquals(HalfFloats.bf16BitsToFloat(HalfFloats.floatToBf16Bits(v[i])), back[i]);
                }
            }
        }
    }

    @Test
    void pinnedStagingCopiesAsynchronouslyAndIsBooked() {
        try (CudaStream stream = new CudaStream(GPU); CachingDeviceAllocator device = CachingDeviceAllocator.cuda(GPU);
             HostAllocator pinned = HostAllocator.pinned(new Accountant(), false)) {
            try (Tensor p = Tensor.allocate(pinned, DType.FP32, Shape.of(1 << 20), MemoryCategory.COMMUNICATION, "p", stream);
                 Tensor d = Tensor.allocate(device, DType.FP32, Shape.of(1 << 20), MemoryCategory.COMMUNICATION, "d", stream)) {
                assertTrue(((HostBuffer) p.storage()).isPinned());
                assertEquals(4L << 20, pinned.accountant().report().total().currentBytes());
                p.fill(1.5, stream);
                d.copyFrom(p, stream);
                p.fill(0, stream);
                p.copyFrom(d, stream);
                stream.synchronize();
                assertEquals(1.5f, p.toFloatArray(stream)[12345]);
            }
        }
    }

    @Test
    void theProcessStaysUsableAfterAnOutOfMemoryError() {
        try (CudaStream stream = new CudaStream(GPU); CachingDeviceAllocator device = CachingDeviceAllocator.cuda(GPU)) {
            assertThrows(DeviceOutOfMemoryException.class, () -> Tensor.allocate(device, DType.FP32,
                    Shape.of(1L << 46), MemoryCategory.ACTIVATIONS, "huge", stream));
            try (Tensor t = Tensor.allocate(device, DType.FP32, Shape.of(8), MemoryCategory.ACTIVATIONS, "t", stream)) {
                t.fill(4, stream);
                assertArrayEquals(new float[]{4, 4, 4, 4, 4, 4, 4, 4}, t.toFloatArray(stream));
            }
        }
    }

    @Test
    void aBlockUsedOnAnotherStreamIsReusedOnlyAfterThatStreamsWork() {
        try (CudaStream compute = new CudaStream(GPU); CudaStream comm = new CudaStream(GPU);
             CachingDeviceAllocator device = CachingDeviceAllocator.cuda(GPU)) {
            Tensor a = Tensor.allocate(device, DType.FP32, Shape.of(1 << 22), MemoryCategory.GRADIENTS, "a", compute);
            long address = a.deviceAddress();
            a.fill(1, compute);
            comm.waitFor(compute.record());
            try (Tensor b = Tensor.allocate(device, DType.FP32, Shape.of(1 << 22), MemoryCategory.GRADIENTS, "b", comm)) {
                b.copyFrom(a, comm); // records a's block on the comm stream
                a.close();
                comm.synchronize();
                // After the comm stream's event has completed the block is cached again for its own stream.
                try (Tensor c = Tensor.allocate(device, DType.FP32, Shape.of(1 << 22), MemoryCategory.GRADIENTS, "c",
                        compute)) {
                    assertEquals(address, c.deviceAddress());
                }
                assertEquals(1f, b.toFloatArray(comm)[4_000_000]);
            }
        }
    }
}
