package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HalfFloats;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Inputs that depend only on (seed, rank, element index), so any rank can compute every rank's input and a float64
 * reference independently of the communicator; tensors made from them; and comparisons by dtype.
 */
final class TestData {
    static final DeviceStream CPU = DeviceStream.cpu();
    /** Written into outputs before a call, so elements the call fails to write show. */
    static final int INT_POISON = Integer.MIN_VALUE + 7;

    private TestData() {
    }

    /**
     * The value element {@code i} of rank {@code rank} holds, exactly as stored in {@code dtype}: floating-point
     * types a random value in [-1, 1) rounded to the dtype, int32 a random integer in [-1000, 1000].
     */
    static double input(DType dtype, long seed, int rank, long i) {
        SplittableRandom random = new SplittableRandom(seed * 1_000_003L + rank * 7_919L + i * 104_729L);
        if (dtype == DType.INT32) {
            return random.nextInt(-1000, 1001);
        }
        return roundTo(dtype, random.nextDouble(-1, 1));
    }

    /** {@code value} rounded to the nearest {@code dtype} value (ties to even). */
    static double roundTo(DType dtype, double value) {
        return switch (dtype) {
            case FP32 -> (float) value;
            case BF16 -> HalfFloats.bf16BitsToFloat(HalfFloats.floatToBf16Bits((float) value));
            case FP16 -> HalfFloats.fp16BitsToFloat(HalfFloats.floatToFp16Bits((float) value));
            default -> value;
        };
    }

    /** A tensor of {@code n} elements whose element {@code i} is {@code input(dtype, seed, rank, first + i)}. */
    static Tensor inputs(HostAllocator allocator, DType dtype, long n, long seed, int rank, long first) {
        Tensor t = Tensor.allocate(allocator, dtype, Shape.of(n), MemoryCategory.COMMUNICATION,
                "in.r" + rank, CPU);
        write(t, i -> input(dtype, seed, rank, first + i));
        return t;
    }

    /** A tensor of {@code n} elements filled with the poison value. */
    static Tensor poisoned(HostAllocator allocator, DType dtype, long n, int rank) {
        Tensor t = Tensor.allocate(allocator, dtype, Shape.of(n), MemoryCategory.COMMUNICATION, "out.r" + rank, CPU);
        poison(t);
        return t;
    }

    static void poison(Tensor t) {
        t.fill(t.dtype() == DType.INT32 ? INT_POISON : Double.NaN, CPU);
    }

    /** Writes {@code value(i)} into every element of {@code t}. */
    static void write(Tensor t, java.util.function.LongToDoubleFunction value) {
        int n = (int) t.numel();
        if (t.dtype() == DType.INT32) {
            int[] v = new int[n];
            for (int i = 0; i < n; i++) {
                v[i] = (int) value.applyAsDouble(i);
            }
            t.copyFrom(v, CPU);
        } else {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = (float) value.applyAsDouble(i);
            }
            t.copyFrom(v, CPU);
        }
    }

    /** The elements of {@code t} as doubles. */
    static double[] read(Tensor t) {
        if (t.dtype() == DType.INT32) {
            return java.util.Arrays.stream(t.toIntArray(CPU)).asDoubleStream().toArray();
        }
        float[] f = t.toFloatArray(CPU);
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    /**
     * The float64 reference of {@code ⊕_q input(q, i)} over {@code size} ranks for {@code i} in
     * {@code [first, first + n)}; integer AVG truncates toward zero, as the communicator documents.
     */
    static double[] reduced(DType dtype, ReduceOp op, int size, long seed, long first, long n) {
        double[] out = new double[(int) n];
        for (int i = 0; i < n; i++) {
            double acc = input(dtype, seed, 0, first + i);
            for (int q = 1; q < size; q++) {
                double x = input(dtype, seed, q, first + i);
                acc = switch (op) {
                    case SUM, AVG -> acc + x;
                    case MAX -> Math.max(acc, x);
                    case MIN -> Math.min(acc, x);
                };
            }
            if (op == ReduceOp.AVG) {
                acc = dtype == DType.INT32 ? (double) ((long) acc / size) : acc / size;
            }
            out[i] = acc;
        }
        return out;
    }

    /** The inputs of rank {@code rank} for {@code i} in {@code [first, first + n)}. */
    static double[] inputsOf(DType dtype, long seed, int rank, long first, long n) {
        double[] out = new double[(int) n];
        for (int i = 0; i < n; i++) {
            out[i] = input(dtype, seed, rank, first + i);
        }
        return out;
    }

    /** The relative error {@code ‖actual − expected‖ / ‖expected‖} a dtype may have. */
    static double tolerance(DType dtype) {
        return switch (dtype) {
            case FP32 -> 1e-5;
            case BF16 -> 1e-2;
            case FP16 -> 2e-3;
            default -> 0;
        };
    }

    /** Integers exactly; floating point by relative error within {@link #tolerance} (a NaN fails). */
    static void assertClose(DType dtype, double[] expected, double[] actual, String what) {
        if (!dtype.isFloatingPoint()) {
            assertArrayEquals(expected, actual, what);
            return;
        }
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        double rel = Math.sqrt(diff) / Math.max(Math.sqrt(norm), Double.MIN_NORMAL);
        assertTrue(rel <= tolerance(dtype), what + ": relative error " + rel + " > " + tolerance(dtype));
    }

    /** Asserts that every element of {@code t} still holds the poison value. */
    static void assertUnwritten(Tensor t, String what) {
        for (double v : read(t)) {
            assertTrue(t.dtype() == DType.INT32 ? v == INT_POISON : Double.isNaN(v), what + ": wrote " + v);
        }
    }
}
