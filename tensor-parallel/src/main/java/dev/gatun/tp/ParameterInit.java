package dev.gatun.tp;

import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.Tensor;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import java.util.function.LongUnaryOperator;

/**
 * Layout-independent initialisation (DESIGN property 9): element {@code i} of the full parameter {@code name} is
 * {@code std·g(seed, name, i)} with {@code g} a standard Gaussian drawn from a generator seeded by a hash of the three,
 * so a shard initialised on its own equals the slice of the unsharded tensor, whatever the tensor-parallel size.
 */
public final class ParameterInit {
    private ParameterInit() {
    }

    /**
     * The value of element {@code globalIndex} of the full parameter {@code name}: {@code std·N(0, 1)}, by Box–Muller
     * from two uniforms of a generator seeded by the three, with {@link StrictMath} so that every JVM, JIT tier and
     * machine gives the same bits.
     */
    public static float gaussian(long seed, String name, long globalIndex, double std) {
        long h = mix(seed ^ mix(nameHash(name)) ^ mix(globalIndex * 0x9E3779B97F4A7C15L + 1));
        SplittableRandom random = new SplittableRandom(h);
        double u1 = 1.0 - random.nextDouble(); // (0, 1]
        double u2 = random.nextDouble();
        return (float) (StrictMath.sqrt(-2 * StrictMath.log(u1)) * StrictMath.cos(2 * StrictMath.PI * u2) * std);
    }

    /**
     * Fills {@code shard} (row-major, {@code numel} elements) so that its element {@code i} is
     * {@link #gaussian gaussian(seed, name, globalIndex(i), std)}: {@code globalIndex} maps the shard's flat index
     * to the flat index in the full parameter.
     */
    public static void fill(Tensor shard, long seed, String name, double std, LongUnaryOperator globalIndex,
                            DeviceStream stream) {
        float[] values = new float[Math.toIntExact(shard.numel())];
        for (int i = 0; i < values.length; i++) {
            values[i] = gaussian(seed, name, globalIndex.applyAsLong(i), std);
        }
        shard.copyFrom(values, stream);
    }

    private static long nameHash(String name) {
        long h = 0xcbf29ce484222325L; // FNV-1a 64
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        return h;
    }

    private static long mix(long z) { // SplitMix64 finaliser
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
