package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.function.LongUnaryOperator;
import java.util.stream.IntStream;

/**
 * Layout-independent initialisation (DESIGN property 9): element {@code i} of the full parameter {@code name} is
 * {@code std·Φ⁻¹(u)}, {@code u} a uniform in (0, 1) that a counter-based generator draws from the key
 * {@code (seed, name)} and the counter {@code i} alone, so a shard initialised on its own equals the slice of the
 * unsharded tensor, whatever the tensor-parallel size, and the elements can be computed in any order, in parallel.
 *
 * <p>The generator: {@code key = mix(seed ⊕ mix(fnv1a64(name)))}, {@code u = (⌊mix(key ⊕ mix(i·φ + 1)) / 2¹¹⌋ + ½)
 * / 2⁵³} with {@code mix} SplitMix64's finaliser and {@code φ} the 64-bit golden ratio. The Gaussian is the inverse
 * normal CDF {@code Φ⁻¹} by Acklam's rational approximation (relative error below 1.2·10⁻⁹, far below fp32's
 * rounding): additions, multiplications and a division in the central 95%, {@link StrictMath#log} and a square
 * root in the tails, so every JVM, JIT tier and machine gives the same bits.
 */
public final class ParameterInit {
    /** Elements a task of {@link #fill} computes. */
    private static final int CHUNK = 1 << 16;
    private static final double P_LOW = 0.02425;
    private static final double A0 = -3.969683028665376e+01, A1 = 2.209460984245205e+02;
    private static final double A2 = -2.759285104469687e+02, A3 = 1.383577518672690e+02;
    private static final double A4 = -3.066479806614716e+01, A5 = 2.506628277459239e+00;
    private static final double B0 = -5.447609879822406e+01, B1 = 1.615858368580409e+02;
    private static final double B2 = -1.556989798598866e+02, B3 = 6.680131188771972e+01;
    private static final double B4 = -1.328068155288572e+01;
    private static final double C0 = -7.784894002430293e-03, C1 = -3.223964580411365e-01;
    private static final double C2 = -2.400758277161838e+00, C3 = -2.549732539343734e+00;
    private static final double C4 = 4.374664141464968e+00, C5 = 2.938163982698783e+00;
    private static final double D0 = 7.784695709041462e-03, D1 = 3.224671290700398e-01;
    private static final double D2 = 2.445134137142996e+00, D3 = 3.754408661907416e+00;

    private ParameterInit() {
    }

    /** The value of element {@code globalIndex} of the full parameter {@code name}: {@code std·N(0, 1)}. */
    public static float gaussian(long seed, String name, long globalIndex, double std) {
        return gaussian(key(seed, name), globalIndex, std);
    }

    /**
     * Fills {@code shard} (row-major, {@code numel} elements) so that its element {@code i} is
     * {@link #gaussian gaussian(seed, name, globalIndex(i), std)}: {@code globalIndex} maps the shard's flat index
     * to the flat index in the full parameter. The elements are computed in chunks on the common pool and the
     * calling thread; which thread computes an element does not change it.
     */
    public static void fill(Tensor shard, long seed, String name, double std, LongUnaryOperator globalIndex,
                            DeviceStream stream) {
        long key = key(seed, name);
        long numel = shard.numel();
        int chunks = Math.toIntExact((numel + CHUNK - 1) / CHUNK);
        if (shard.device().isCuda() || shard.dtype() != DType.FP32) {
            float[] values = new float[Math.toIntExact(numel)];
            IntStream.range(0, chunks).parallel().forEach(chunk -> compute(key, std, globalIndex, chunk, values,
                    chunk * CHUNK, (int) Math.min(CHUNK, numel - (long) chunk * CHUNK)));
            shard.copyFrom(values, stream);
            return;
        }
        // On the host each chunk goes straight into the tensor: no copy of the whole parameter on the heap.
        MemorySegment segment = shard.hostSegment();
        IntStream.range(0, chunks).parallel().forEach(chunk -> {
            int length = (int) Math.min(CHUNK, numel - (long) chunk * CHUNK);
            float[] values = new float[length];
            compute(key, std, globalIndex, chunk, values, 0, length);
            MemorySegment.copy(values, 0, segment, ValueLayout.JAVA_FLOAT, (long) chunk * CHUNK * Float.BYTES,
                    length);
        });
    }

    /** Elements {@code [chunk·CHUNK, chunk·CHUNK + length)} of the shard into {@code values[at …]}. */
    private static void compute(long key, double std, LongUnaryOperator globalIndex, int chunk, float[] values,
                                int at, int length) {
        long first = (long) chunk * CHUNK;
        for (int i = 0; i < length; i++) {
            values[at + i] = gaussian(key, globalIndex.applyAsLong(first + i), std);
        }
    }

    /** The generator's key for parameter {@code name} under {@code seed}. */
    static long key(long seed, String name) {
        long h = 0xcbf29ce484222325L; // FNV-1a 64
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        return mix(seed ^ mix(h));
    }

    /** {@code std·Φ⁻¹(u(key, counter))}. */
    static float gaussian(long key, long counter, double std) {
        long bits = mix(key ^ mix(counter * 0x9E3779B97F4A7C15L + 1));
        double u = ((bits >>> 11) + 0.5) * 0x1.0p-53; // in (0, 1), symmetric about 1/2
        return (float) (inverseNormalCdf(u) * std);
    }

    /** Acklam's approximation of {@code Φ⁻¹(p)} for {@code 0 < p < 1}. */
    static double inverseNormalCdf(double p) {
        if (p < P_LOW) {
            return tail(StrictMath.sqrt(-2 * StrictMath.log(p)));
        }
        if (p > 1 - P_LOW) {
            return -tail(StrictMath.sqrt(-2 * StrictMath.log(1 - p))); // 1 − p is exact for p ≥ 1/2
        }
        double q = p - 0.5;
        double r = q * q;
        return (((((A0 * r + A1) * r + A2) * r + A3) * r + A4) * r + A5) * q
                / (((((B0 * r + B1) * r + B2) * r + B3) * r + B4) * r + 1);
    }

    private static double tail(double q) {
        return (((((C0 * q + C1) * q + C2) * q + C3) * q + C4) * q + C5) / ((((D0 * q + D1) * q + D2) * q + D3) * q + 1);
    }

    private static long mix(long z) { // SplitMix64 finaliser
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
