package dev.gatun.memory;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tensors on the CPU: views, copies, fills, array I/O, and the errors for misuse. */
class TensorTest {
    private final HostAllocator host = new HostAllocator();
    private final DeviceStream cpu = DeviceStream.cpu();
    private final Random random = new Random();

    @AfterEach
    void noLeaks() {
        host.close();
    }

    private Tensor tensor(DType dtype, long... dims) {
        return Tensor.allocate(host, dtype, Shape.of(dims), MemoryCategory.ACTIVATIONS, "t", cpu);
    }

    private float[] randomFloats(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    @Test
    void fp32ValuesRoundTripExactly() {
        try (Tensor t = tensor(DType.FP32, 3, 7)) {
            float[] v = randomFloats(21);
            t.copyFrom(v, cpu);
            assertArrayEquals(v, t.toFloatArray(cpu));
            assertEquals(84, t.byteSize());
            assertEquals(Device.CPU, t.device());
            assertEquals(v[8], t.hostSegment().getAtIndex(ValueLayout.JAVA_FLOAT, 8));
        }
    }

    @Test
    void halfPrecisionStoresTheRoundedValues() {
        for (DType dtype : new DType[]{DType.BF16, DType.FP16}) {
            try (Tensor t = tensor(dtype, 101)) {
                float[] v = randomFloats(101);
                t.copyFrom(v, cpu);
                float[] back = t.toFloatArray(cpu);
                for (int i = 0; i < v.length; i++) {
                    float expected = dtype == DType.BF16
                            ? HalfFloats.bf16BitsToFloat(HalfFloats.floatToBf16Bits(v[i]))
                            : HalfFloats.fp16BitsToFloat(HalfFloats.floatToFp16Bits(v[i]));
                    assertEquals(expected, back[i], dtype + " element " + i);
                    assertEquals(v[i], back[i], Math.abs(v[i]) * (dtype == DType.BF16 ? 0x1p-8 : 0x1p-11) + 1e-7);
                }
            }
        }
    }

    @Test
    void integerTensorsRoundTrip() {
        try (Tensor i32 = tensor(DType.INT32, 5); Tensor i64 = tensor(DType.INT64, 2, 2)) {
            int[] ints = random.ints(5).toArray();
            i32.copyFrom(ints, cpu);
            assertArrayEquals(ints, i32.toIntArray(cpu));
            long[] longs = random.longs(4).toArray();
            i64.copyFrom(longs, cpu);
            assertArrayEquals(longs, i64.toLongArray(cpu));
            assertThrows(IllegalArgumentException.class, () -> i32.toFloatArray(cpu));
            assertThrows(IllegalArgumentException.class, () -> i32.toLongArray(cpu));
        }
    }

    @Test
    void fillWritesTheElementBitPattern() {
        try (Tensor f = tensor(DType.FP32, 9); Tensor b = tensor(DType.BF16, 9); Tensor h = tensor(DType.FP16, 9);
             Tensor i = tensor(DType.INT32, 9); Tensor l = tensor(DType.INT64, 9)) {
            f.fill(-1.25, cpu);
            b.fill(1.0 / 3, cpu);
            h.fill(70000, cpu); // beyond fp16's range: +Inf
            i.fill(-7, cpu);
            l.fill(0x1p40, cpu);
            for (float x : f.toFloatArray(cpu)) {
                assertEquals(-1.25f, x);
            }
            for (float x : b.toFloatArray(cpu)) {
                assertEquals(HalfFloats.bf16BitsToFloat(HalfFloats.floatToBf16Bits(1f / 3)), x);
            }
            for (float x : h.toFloatArray(cpu)) {
                assertEquals(Float.POSITIVE_INFINITY, x);
            }
            for (int x : i.toIntArray(cpu)) {
                assertEquals(-7, x);
            }
            for (long x : l.toLongArray(cpu)) {
                assertEquals(1L << 40, x);
            }
            assertThrows(IllegalArgumentException.class, () -> i.fill(2.5, cpu));
            assertThrows(IllegalArgumentException.class, () -> i.fill(1e10, cpu));
        }
    }

    @Test
    void sliceSelectsRowsOfTheOutermostDimension() {
        try (Tensor t = tensor(DType.FP32, 4, 3, 2)) {
            float[] v = randomFloats(24);
            t.copyFrom(v, cpu);
            Tensor rows = t.slice(1, 3);
            assertEquals(Shape.of(2, 3, 2), rows.shape());
            assertEquals(6 * 4, rows.byteOffset());
            assertTrue(rows.isView());
            float[] expected = new float[12];
            System.arraycopy(v, 6, expected, 0, 12);
            assertArrayEquals(expected, rows.toFloatArray(cpu));
            rows.fill(0, cpu); // writes through to the parent
            float[] after = t.toFloatArray(cpu);
            for (int k = 0; k < 24; k++) {
                assertEquals(k >= 6 && k < 18 ? 0f : v[k], after[k], "element " + k);
            }
            assertEquals(0, t.slice(2, 2).numel());
        }
    }

    @Test
    void flatRangesAreShardsOfAViewAndReshapeKeepsTheElements() {
        try (Tensor t = tensor(DType.BF16, 5, 7)) {
            float[] v = randomFloats(35);
            t.copyFrom(v, cpu);
            float[] all = t.toFloatArray(cpu);
            Tensor shard = t.slice(1, 5).flat(3, 11);
            assertEquals(Shape.of(11), shard.shape());
            float[] expected = new float[11];
            System.arraycopy(all, 7 + 3, expected, 0, 11);
            assertArrayEquals(expected, shard.toFloatArray(cpu));

            Tensor r = t.reshape(7, -1);
            assertEquals(Shape.of(7, 5), r.shape());
            assertArrayEquals(all, r.toFloatArray(cpu));
            assertArrayEquals(expected, shard.reshape(1, 11, 1).toFloatArray(cpu));
            assertEquals(Shape.of(), t.flat(4, 1).reshape().shape());
        }
    }

    @Test
    void outOfRangeViewsAreRejectedWithTheShape() {
        try (Tensor t = tensor(DType.FP32, 4, 3)) {
            var e = assertThrows(IndexOutOfBoundsException.class, () -> t.slice(2, 5));
            assertTrue(e.getMessage().contains("[4, 3]"), e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> t.slice(-1, 2));
            assertThrows(IndexOutOfBoundsException.class, () -> t.slice(3, 2));
            assertThrows(IndexOutOfBoundsException.class, () -> t.flat(10, 3));
            assertThrows(IndexOutOfBoundsException.class, () -> t.flat(-1, 3));
            var r = assertThrows(IllegalArgumentException.class, () -> t.reshape(5, -1));
            assertTrue(r.getMessage().contains("12 elements"), r.getMessage());
            assertThrows(IllegalArgumentException.class, () -> t.reshape(-1, -1));
            assertThrows(IllegalArgumentException.class, () -> t.reshape(2, 2));
            assertThrows(IllegalArgumentException.class, () -> t.flat(0, 1).reshape().slice(0, 1));
            assertThrows(IllegalArgumentException.class, () -> t.copyFrom(new float[11], cpu));
        }
    }

    @Test
    void viewsOfStorageCheckOffsetAndSize() {
        try (HostBuffer buffer = host.allocate(MemoryCategory.PARAMETERS, "flat", 64)) {
            Tensor w = Tensor.view(buffer, DType.FP32, Shape.of(2, 4), 32);
            w.fill(3, cpu);
            assertEquals(3f, buffer.segment().getAtIndex(ValueLayout.JAVA_FLOAT, 8));
            assertEquals(0f, buffer.segment().getAtIndex(ValueLayout.JAVA_FLOAT, 7));
            assertThrows(IllegalArgumentException.class, () -> Tensor.view(buffer, DType.FP32, Shape.of(9), 32));
            assertThrows(IllegalArgumentException.class, () -> Tensor.view(buffer, DType.FP32, Shape.of(2), 2));
            assertThrows(IllegalArgumentException.class, () -> Tensor.view(buffer, DType.FP32, Shape.of(2), -4));
        }
    }

    @Test
    void copiesBetweenCpuTensorsCheckDtypeAndShape() {
        try (Tensor a = tensor(DType.FP16, 3, 5); Tensor b = tensor(DType.FP16, 3, 5); Tensor c = tensor(DType.FP32, 3, 5);
             Tensor d = tensor(DType.FP16, 5, 3)) {
            a.copyFrom(randomFloats(15), cpu);
            b.copyFrom(a, cpu);
            assertArrayEquals(a.toFloatArray(cpu), b.toFloatArray(cpu));
            var e = assertThrows(IllegalArgumentException.class, () -> c.copyFrom(a, cpu));
            assertTrue(e.getMessage().contains("fp16[3, 5]") && e.getMessage().contains("fp32[3, 5]"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> d.copyFrom(a, cpu));
            d.copyFrom(a.reshape(5, 3), cpu);
            assertArrayEquals(a.toFloatArray(cpu), d.toFloatArray(cpu));
        }
    }

    @Test
    void useAfterFreeIsAClearErrorForTheTensorAndItsViews() {
        Tensor t = tensor(DType.FP32, 8);
        Tensor view = t.slice(2, 4);
        MemorySegment earlier = t.hostSegment();
        t.close();
        assertFalse(t.isLive());
        assertFalse(view.isLive());
        var e = assertThrows(IllegalStateException.class, () -> view.toFloatArray(cpu));
        assertTrue(e.getMessage().contains("already freed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> view.fill(1, cpu));
        assertThrows(IllegalStateException.class, t::hostSegment);
        assertThrows(IllegalStateException.class, () -> t.slice(0, 1));
        assertThrows(IllegalStateException.class, () -> earlier.get(ValueLayout.JAVA_FLOAT, 0));
        assertThrows(IllegalStateException.class, t::close);
        assertTrue(t.toString().contains("freed"), t.toString());
    }

    @Test
    void aViewCannotBeClosed() {
        try (Tensor t = tensor(DType.FP32, 8)) {
            var e = assertThrows(IllegalStateException.class, () -> t.slice(0, 2).close());
            assertTrue(e.getMessage().contains("view"), e.getMessage());
        }
    }

    @Test
    void tensorsAreBookedUnderTheirCategoryAndLeaksNameThem() {
        HostAllocator own = new HostAllocator();
        Tensor w = Tensor.allocate(own, DType.BF16, Shape.of(10, 10), MemoryCategory.PARAMETERS, "fc.weight", cpu);
        Tensor empty = Tensor.allocate(own, DType.FP32, Shape.of(0, 3), MemoryCategory.ACTIVATIONS, "empty", cpu);
        assertEquals(200, own.accountant().report().categories().get(MemoryCategory.PARAMETERS).currentBytes());
        assertEquals(0, empty.numel());
        empty.fill(1, cpu);
        assertEquals(0, empty.toFloatArray(cpu).length);
        empty.close();
        var e = assertThrows(MemoryLeakException.class, own::close);
        assertTrue(e.getMessage().contains("fc.weight"), e.getMessage());
        w.close();
        own.close();
    }

    @Test
    void deviceTensorsAreNeverReadOnTheHost() {
        var memory = new CachingDeviceAllocatorTest.SimulatedMemory(64L << 20);
        var stream = new CachingDeviceAllocatorTest.SimulatedStream();
        try (CachingDeviceAllocator device = new CachingDeviceAllocator(memory, new Accountant(), false)) {
            Tensor g = Tensor.allocate(device, DType.FP32, Shape.of(16), MemoryCategory.GRADIENTS, "g", stream);
            Tensor h = tensor(DType.FP32, 16);
            assertEquals(Device.cuda(0), g.device());
            var e = assertThrows(IllegalStateException.class, g::hostSegment);
            assertTrue(e.getMessage().contains("cuda:0"), e.getMessage());
            assertTrue(g.slice(4, 8).deviceAddress() == g.deviceAddress() + 16);
            assertThrows(IllegalStateException.class, h::deviceAddress);
            // A copy or fill that involves the device needs a CUDA stream; nothing native is called before the check.
            assertThrows(IllegalArgumentException.class, () -> g.fill(1, cpu));
            assertThrows(IllegalArgumentException.class, () -> g.copyFrom(h, cpu));
            assertThrows(IllegalArgumentException.class, () -> h.copyFrom(g, stream));
            assertThrows(IllegalArgumentException.class, () -> g.toFloatArray(stream));
            h.close();
            g.close();
        }
    }
}
