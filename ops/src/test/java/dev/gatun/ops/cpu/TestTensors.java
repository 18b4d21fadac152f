package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;

import java.util.ArrayList;
import java.util.List;

/** Host tensors for one test, all freed (and checked for leaks) on {@link #close()}. */
final class TestTensors implements AutoCloseable {
    final DeviceStream stream = DeviceStream.cpu();
    private final HostAllocator allocator = new HostAllocator();
    private final List<Tensor> live = new ArrayList<>();

    /** A tensor of {@code dtype} filled with zeros. */
    Tensor zeros(String name, DType dtype, long... dims) {
        Tensor t = Tensor.allocate(allocator, dtype, Shape.of(dims), MemoryCategory.ACTIVATIONS, name, stream);
        live.add(t);
        return t;
    }

    /** An fp32 tensor holding {@code values} (rounded to float). */
    Tensor fp32(String name, double[] values, long... dims) {
        Tensor t = zeros(name, DType.FP32, dims);
        t.copyFrom(Numerics.toFloats(values), stream);
        return t;
    }

    /** A tensor of {@code dtype} holding {@code values} (rounded to it). */
    Tensor of(String name, DType dtype, double[] values, long... dims) {
        Tensor t = zeros(name, dtype, dims);
        t.copyFrom(Numerics.toFloats(values), stream);
        return t;
    }

    /** An fp32 tensor of NaN, so that elements an operation fails to write show. */
    Tensor poisoned(String name, long... dims) {
        Tensor t = zeros(name, DType.FP32, dims);
        t.fill(Double.NaN, stream);
        return t;
    }

    /** An int32 tensor holding {@code values}. */
    Tensor ints(String name, int[] values, long... dims) {
        Tensor t = zeros(name, DType.INT32, dims);
        t.copyFrom(values, stream);
        return t;
    }

    /** The elements of a floating-point tensor, widened to double. */
    double[] read(Tensor t) {
        float[] f = t.toFloatArray(stream);
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    /** Poisons {@code t} again (NaN). */
    void poison(Tensor t) {
        t.fill(Double.NaN, stream);
    }

    @Override
    public void close() {
        for (Tensor t : live) {
            t.close();
        }
        live.clear();
        allocator.close();
    }
}
