package dev.gatun.train;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.Arrays;
import java.util.Objects;

/**
 * A row-major array on the Java heap, int32 or fp32, whose first dimension counts examples: what a caller's data
 * pipeline hands the engine. {@link #rows(long, long)} splits it along that dimension without copying the order
 * (rows {@code [from, to)}), so that data-parallel shards and micro-batches are contiguous ranges of the batch.
 *
 * <p>The array is not copied; treat it as read-only.
 *
 * @param dtype  {@link DType#INT32} (e.g. token ids, class labels) or {@link DType#FP32}
 * @param shape  its shape, rank >= 1; {@code shape.dim(0)} examples
 * @param ints   the values for int32, else null
 * @param floats the values for fp32, else null
 */
public record HostArray(DType dtype, Shape shape, int[] ints, float[] floats) {
    public HostArray {
        Objects.requireNonNull(dtype, "dtype must not be null");
        Objects.requireNonNull(shape, "shape must not be null");
        if (shape.rank() < 1) {
            throw new IllegalArgumentException("a host array needs a first dimension of examples, got shape " + shape);
        }
        int length = switch (dtype) {
            case INT32 -> {
                if (ints == null || floats != null) {
                    throw new IllegalArgumentException("an int32 host array holds ints only");
                }
                yield ints.length;
            }
            case FP32 -> {
                if (floats == null || ints != null) {
                    throw new IllegalArgumentException("an fp32 host array holds floats only");
                }
                yield floats.length;
            }
            default -> throw new IllegalArgumentException("host arrays are int32 or fp32, got " + dtype.shortName());
        };
        if (length != shape.numel()) {
            throw new IllegalArgumentException("shape " + shape + " has " + shape.numel() + " elements but the array "
                    + "has " + length);
        }
    }

    /** Int32 values of shape {@code dims}. */
    public static HostArray ofInts(int[] values, long... dims) {
        return new HostArray(DType.INT32, Shape.of(dims), values, null);
    }

    /** Fp32 values of shape {@code dims}. */
    public static HostArray ofFloats(float[] values, long... dims) {
        return new HostArray(DType.FP32, Shape.of(dims), null, values);
    }

    /** The examples: the first dimension. */
    public long examples() {
        return shape.dim(0);
    }

    /** Rows {@code [from, to)} along the first dimension, as a new array. */
    public HostArray rows(long from, long to) {
        if (from < 0 || to > examples() || from >= to) {
            throw new IllegalArgumentException("rows [" + from + ", " + to + ") of " + examples() + " examples");
        }
        long per = shape.numel() / examples();
        long[] dims = shape.dims();
        dims[0] = to - from;
        int a = Math.toIntExact(from * per);
        int b = Math.toIntExact(to * per);
        return dtype == DType.INT32 ? new HostArray(dtype, Shape.of(dims), Arrays.copyOfRange(ints, a, b), null)
                : new HostArray(dtype, Shape.of(dims), null, Arrays.copyOfRange(floats, a, b));
    }

    /** A new tensor of this array's dtype and shape holding its values; the caller closes it. */
    public Tensor toTensor(TensorAllocator allocator, DeviceStream stream, MemoryCategory category, String name) {
        Tensor t = Tensor.allocate(allocator, dtype, shape, category, name, stream);
        boolean ok = false;
        try {
            if (dtype == DType.INT32) {
                t.copyFrom(ints, stream);
            } else {
                t.copyFrom(floats, stream);
            }
            ok = true;
            return t;
        } finally {
            if (!ok) {
                t.close();
            }
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HostArray h && dtype == h.dtype && shape.equals(h.shape) && Arrays.equals(ints, h.ints)
                && Arrays.equals(floats, h.floats);
    }

    @Override
    public int hashCode() {
        return Objects.hash(dtype, shape, Arrays.hashCode(ints), Arrays.hashCode(floats));
    }

    @Override
    public String toString() {
        return dtype.shortName() + shape;
    }
}
