package dev.gatun.ops.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-blocked micro-kernels of {@link CpuGemm}: an {@code MR × NR} tile of {@code C} kept in vector
 * registers across the whole {@code kc} loop, {@code NR} being two vectors of {@link FloatVector#SPECIES_PREFERRED}.
 * Each step loads two vectors of packed {@code B}, broadcasts {@code MR} packed {@code A} values and issues
 * {@code 2·MR} independent fused multiply-adds, enough to cover the FMA latency on both FMA ports.
 *
 * <p>Two heights, because the tile and the operands in flight must fit in the register file: 12 rows (24
 * accumulators) for machines with 32 vector registers (AVX-512, which is what a 512-bit {@code SPECIES_PREFERRED}
 * means on x86, and AArch64), 4 rows (8 accumulators) for 16 registers (AVX2). Measured on a Xeon (Sapphire Rapids,
 * AVX-512), kc = 256, one core, data in L1: 12×32 runs at ~170 GFLOP/s, 8×48 at ~145, 6×64 at ~137 (fewer broadcasts
 * per FMA did not pay for more B loads). On AVX2 (a Zen 3 core, whose FMA peak measured in C is 98 GFLOP/s) 4×16
 * runs at 96 GFLOP/s; 6×16 and 5×16 run at 37-43, because C2 keeps more than 16 vectors live (the accumulators, the
 * two B vectors and several broadcasts it hoists) and spills one accumulator, whose store and reload then chain
 * every iteration; 3×24 reached 88, 8×8 79. The bodies are written out, one local per accumulator, because C2 keeps
 * locals in registers, not arrays.
 *
 * <p>The 12-row kernel ends by storing the tile to a {@code float[]}, which the caller adds into {@code C}: updating
 * {@code C} straight from its 24 registers made the method too big for C2 to intrinsify every vector operation in
 * it (part of it ran as boxed Java fallbacks) and cost 20%. The 4-row kernel is small enough to update {@code C}
 * itself ({@link #multiplyInto}); a tile cut short by the edge of C goes through a {@code float[]} as well.
 */
final class GemmKernel {
    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    static final int LANES = SPECIES.length();
    /** Columns of a tile: two vectors. */
    static final int NR = 2 * LANES;

    private GemmKernel() {
    }

    /** The tile height for this machine: 12 with 32 vector registers, else 4. */
    static int preferredRows() {
        boolean wideRegisterFile = SPECIES.vectorBitSize() >= 512
                || "aarch64".equals(System.getProperty("os.arch"));
        return wideRegisterFile ? 12 : 4;
    }

    /**
     * {@code tile[r·NR + j] = Σ_p a[ao + p·mr + r] · b[bo + p·NR + j]} over {@code p < kc}, for {@code r < mr} (12
     * or 4) and {@code j < NR}: the product of an A micro-panel packed {@code [kc][mr]} and a B micro-panel packed
     * {@code [kc][NR]}.
     */
    static void multiply(int mr, int kc, float[] a, int ao, float[] b, int bo, float[] tile) {
        if (mr == 12) {
            multiply12(kc, a, ao, b, bo, tile);
        } else {
            multiplyInto(kc, a, ao, b, bo, MemorySegment.ofArray(tile), 0, (long) NR * Float.BYTES, 1f, 0f);
        }
    }

    /** {@link #multiply} for {@code mr = 12}. */
    private static void multiply12(int kc, float[] a, int ao, float[] b, int bo, float[] tile) {
        FloatVector acc0a = FloatVector.zero(SPECIES);
        FloatVector acc0b = acc0a, acc1a = acc0a, acc1b = acc0a, acc2a = acc0a, acc2b = acc0a, acc3a = acc0a;
        FloatVector acc3b = acc0a, acc4a = acc0a, acc4b = acc0a, acc5a = acc0a, acc5b = acc0a, acc6a = acc0a;
        FloatVector acc6b = acc0a, acc7a = acc0a, acc7b = acc0a, acc8a = acc0a, acc8b = acc0a, acc9a = acc0a;
        FloatVector acc9b = acc0a, acc10a = acc0a, acc10b = acc0a, acc11a = acc0a, acc11b = acc0a;
        int aEnd = ao + kc * 12;
        for (int ai = ao, bi = bo; ai < aEnd; ai += 12, bi += NR) {
            FloatVector b0 = FloatVector.fromArray(SPECIES, b, bi);
            FloatVector b1 = FloatVector.fromArray(SPECIES, b, bi + LANES);
            FloatVector x;
            x = FloatVector.broadcast(SPECIES, a[ai]);
            acc0a = x.fma(b0, acc0a);
            acc0b = x.fma(b1, acc0b);
            x = FloatVector.broadcast(SPECIES, a[ai + 1]);
            acc1a = x.fma(b0, acc1a);
            acc1b = x.fma(b1, acc1b);
            x = FloatVector.broadcast(SPECIES, a[ai + 2]);
            acc2a = x.fma(b0, acc2a);
            acc2b = x.fma(b1, acc2b);
            x = FloatVector.broadcast(SPECIES, a[ai + 3]);
            acc3a = x.fma(b0, acc3a);
            acc3b = x.fma(b1, acc3b);
            x = FloatVector.broadcast(SPECIES, a[ai + 4]);
            acc4a = x.fma(b0, acc4a);
            acc4b = x.fma(b1, acc4b);
            x = FloatVector.broadcast(SPECIES, a[ai + 5]);
            acc5a = x.fma(b0, acc5a);
            acc5b = x.fma(b1, acc5b);
            x = FloatVector.broadcast(SPECIES, a[ai + 6]);
            acc6a = x.fma(b0, acc6a);
            acc6b = x.fma(b1, acc6b);
            x = FloatVector.broadcast(SPECIES, a[ai + 7]);
            acc7a = x.fma(b0, acc7a);
            acc7b = x.fma(b1, acc7b);
            x = FloatVector.broadcast(SPECIES, a[ai + 8]);
            acc8a = x.fma(b0, acc8a);
            acc8b = x.fma(b1, acc8b);
            x = FloatVector.broadcast(SPECIES, a[ai + 9]);
            acc9a = x.fma(b0, acc9a);
            acc9b = x.fma(b1, acc9b);
            x = FloatVector.broadcast(SPECIES, a[ai + 10]);
            acc10a = x.fma(b0, acc10a);
            acc10b = x.fma(b1, acc10b);
            x = FloatVector.broadcast(SPECIES, a[ai + 11]);
            acc11a = x.fma(b0, acc11a);
            acc11b = x.fma(b1, acc11b);
        }
        acc0a.intoArray(tile, 0);
        acc0b.intoArray(tile, 0 + LANES);
        acc1a.intoArray(tile, NR);
        acc1b.intoArray(tile, NR + LANES);
        acc2a.intoArray(tile, 2 * NR);
        acc2b.intoArray(tile, 2 * NR + LANES);
        acc3a.intoArray(tile, 3 * NR);
        acc3b.intoArray(tile, 3 * NR + LANES);
        acc4a.intoArray(tile, 4 * NR);
        acc4b.intoArray(tile, 4 * NR + LANES);
        acc5a.intoArray(tile, 5 * NR);
        acc5b.intoArray(tile, 5 * NR + LANES);
        acc6a.intoArray(tile, 6 * NR);
        acc6b.intoArray(tile, 6 * NR + LANES);
        acc7a.intoArray(tile, 7 * NR);
        acc7b.intoArray(tile, 7 * NR + LANES);
        acc8a.intoArray(tile, 8 * NR);
        acc8b.intoArray(tile, 8 * NR + LANES);
        acc9a.intoArray(tile, 9 * NR);
        acc9b.intoArray(tile, 9 * NR + LANES);
        acc10a.intoArray(tile, 10 * NR);
        acc10b.intoArray(tile, 10 * NR + LANES);
        acc11a.intoArray(tile, 11 * NR);
        acc11b.intoArray(tile, 11 * NR + LANES);
    }

    /** Whether {@link #multiplyInto} serves tiles of {@code mr} rows. */
    static boolean storesIntoC(int mr) {
        return mr == 4;
    }

    /**
     * The product of {@link #multiply} for {@code mr = 4}, a whole {@code 4 × NR} tile, stored straight from the
     * registers into fp32 C: {@code C[r][j] = alpha·acc[r][j] + beta·C[r][j]} (C not read when {@code beta = 0}),
     * row {@code r} of the tile at byte {@code offset + r·rowBytes} of {@code c}, little-endian. The same arithmetic
     * as storing the tile and adding it in ({@link BlockedGemm}), without the tile's trip through memory: with 8
     * accumulators the method stays small enough for C2 to keep every vector operation intrinsic.
     */
    static void multiplyInto(int kc, float[] a, int ao, float[] b, int bo, MemorySegment c, long offset,
                             long rowBytes, float alpha, float beta) {
        FloatVector acc0a = FloatVector.zero(SPECIES);
        FloatVector acc0b = acc0a, acc1a = acc0a, acc1b = acc0a, acc2a = acc0a, acc2b = acc0a, acc3a = acc0a;
        FloatVector acc3b = acc0a;
        int aEnd = ao + kc * 4;
        for (int ai = ao, bi = bo; ai < aEnd; ai += 4, bi += NR) {
            FloatVector b0 = FloatVector.fromArray(SPECIES, b, bi);
            FloatVector b1 = FloatVector.fromArray(SPECIES, b, bi + LANES);
            FloatVector x;
            x = FloatVector.broadcast(SPECIES, a[ai]);
            acc0a = x.fma(b0, acc0a);
            acc0b = x.fma(b1, acc0b);
            x = FloatVector.broadcast(SPECIES, a[ai + 1]);
            acc1a = x.fma(b0, acc1a);
            acc1b = x.fma(b1, acc1b);
            x = FloatVector.broadcast(SPECIES, a[ai + 2]);
            acc2a = x.fma(b0, acc2a);
            acc2b = x.fma(b1, acc2b);
            x = FloatVector.broadcast(SPECIES, a[ai + 3]);
            acc3a = x.fma(b0, acc3a);
            acc3b = x.fma(b1, acc3b);
        }
        long half = (long) LANES * Float.BYTES;
        store(acc0a, c, offset, alpha, beta);
        store(acc0b, c, offset + half, alpha, beta);
        store(acc1a, c, offset + rowBytes, alpha, beta);
        store(acc1b, c, offset + rowBytes + half, alpha, beta);
        store(acc2a, c, offset + 2 * rowBytes, alpha, beta);
        store(acc2b, c, offset + 2 * rowBytes + half, alpha, beta);
        store(acc3a, c, offset + 3 * rowBytes, alpha, beta);
        store(acc3b, c, offset + 3 * rowBytes + half, alpha, beta);
    }

    /** {@code C = alpha·acc + beta·C} for one vector of C at byte {@code offset}; C is not read when beta is 0. */
    private static void store(FloatVector acc, MemorySegment c, long offset, float alpha, float beta) {
        FloatVector v = acc.mul(alpha);
        if (beta != 0) {
            v = FloatVector.fromMemorySegment(SPECIES, c, offset, ByteOrder.LITTLE_ENDIAN)
                    .fma(FloatVector.broadcast(SPECIES, beta), v);
        }
        v.intoMemorySegment(c, offset, ByteOrder.LITTLE_ENDIAN);
    }
}
