package dev.gatun.ops.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Vector loads and stores of fp32 elements in memory segments (indices in elements), and the sums the kernels reduce
 * with. Sums keep fp32 lane accumulators for at most {@value #BLOCK_VECTORS} vectors, then add the lanes in lane order
 * into a double: the error stays near that of a double sum, and the order is fixed for a given length (never
 * {@code reduceLanes(ADD)}, whose order the Vector API leaves open).
 */
final class Lanes {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int LENGTH = F.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final int BLOCK_VECTORS = 64;

    private Lanes() {
    }

    static FloatVector load(MemorySegment s, long index) {
        return FloatVector.fromMemorySegment(F, s, index * Float.BYTES, ORDER);
    }

    static void store(FloatVector v, MemorySegment s, long index) {
        v.intoMemorySegment(s, index * Float.BYTES, ORDER);
    }

    static float get(MemorySegment s, long index) {
        return s.getAtIndex(FLOAT, index);
    }

    static void set(MemorySegment s, long index, float value) {
        s.setAtIndex(FLOAT, index, value);
    }

    /** The largest multiple of the vector length not above {@code n}. */
    static long bound(long n) {
        return n - n % LENGTH;
    }

    /** The lanes of {@code v} added in lane order, in double. */
    static double laneSum(FloatVector v) {
        double sum = 0;
        for (float lane : v.toArray()) {
            sum += lane;
        }
        return sum;
    }

    /** {@code Σ x[off + i]} for {@code i < n}. */
    static double sum(MemorySegment x, long off, long n) {
        double total = 0;
        long i = 0;
        long end = bound(n);
        while (i < end) {
            long blockEnd = Math.min(end, i + (long) BLOCK_VECTORS * LENGTH);
            FloatVector acc = FloatVector.zero(F);
            for (; i < blockEnd; i += LENGTH) {
                acc = acc.add(load(x, off + i));
            }
            total += laneSum(acc);
        }
        for (; i < n; i++) {
            total += get(x, off + i);
        }
        return total;
    }

    /** {@code Σ (x[off + i] − center)²} for {@code i < n} (with {@code center = 0}: the sum of squares). */
    static double sumSquaredDeviations(MemorySegment x, long off, long n, float center) {
        double total = 0;
        long i = 0;
        long end = bound(n);
        while (i < end) {
            long blockEnd = Math.min(end, i + (long) BLOCK_VECTORS * LENGTH);
            FloatVector acc = FloatVector.zero(F);
            for (; i < blockEnd; i += LENGTH) {
                FloatVector d = load(x, off + i).sub(center);
                acc = d.fma(d, acc);
            }
            total += laneSum(acc);
        }
        for (; i < n; i++) {
            double d = get(x, off + i) - center;
            total += d * d;
        }
        return total;
    }

    /** {@code Σ a[aOff + i]·b[bOff + i]} for {@code i < n}. */
    static double dot(MemorySegment a, long aOff, MemorySegment b, long bOff, long n) {
        double total = 0;
        long i = 0;
        long end = bound(n);
        while (i < end) {
            long blockEnd = Math.min(end, i + (long) BLOCK_VECTORS * LENGTH);
            FloatVector acc = FloatVector.zero(F);
            for (; i < blockEnd; i += LENGTH) {
                acc = load(a, aOff + i).fma(load(b, bOff + i), acc);
            }
            total += laneSum(acc);
        }
        for (; i < n; i++) {
            total += (double) get(a, aOff + i) * get(b, bOff + i);
        }
        return total;
    }

    /** {@code max x[off + i]} for {@code i < n} ({@code -∞} for none); max is exact, so any order gives it. */
    static float max(MemorySegment x, long off, long n) {
        float max = Float.NEGATIVE_INFINITY;
        long i = 0;
        long end = bound(n);
        if (end > 0) {
            FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (; i < end; i += LENGTH) {
                acc = acc.max(load(x, off + i));
            }
            max = acc.reduceLanes(jdk.incubator.vector.VectorOperators.MAX);
        }
        for (; i < n; i++) {
            max = Math.max(max, get(x, off + i));
        }
        return max;
    }

    /** {@code dst[dstOff + i] += src[srcOff + i]} for {@code i < n}. */
    static void accumulate(MemorySegment dst, long dstOff, MemorySegment src, long srcOff, long n) {
        long i = 0;
        for (long end = bound(n); i < end; i += LENGTH) {
            store(load(dst, dstOff + i).add(load(src, srcOff + i)), dst, dstOff + i);
        }
        for (; i < n; i++) {
            set(dst, dstOff + i, get(dst, dstOff + i) + get(src, srcOff + i));
        }
    }

    /** {@code acc[i] += x[off + i]} for {@code i < acc.length}: one row into fp32 column partials. */
    static void addInto(float[] acc, MemorySegment x, long off) {
        int n = acc.length;
        int i = 0;
        int end = (int) bound(n);
        for (; i < end; i += LENGTH) {
            FloatVector.fromArray(F, acc, i).add(load(x, off + i)).intoArray(acc, i);
        }
        for (; i < n; i++) {
            acc[i] += get(x, off + i);
        }
    }

    /**
     * {@code dst[c] += Σ_t partials[t][c]}, the partials added in task order in double and rounded once: the
     * deterministic end of a column reduction split by rows.
     */
    static void addColumnSums(float[][] partials, MemorySegment dst) {
        int columns = partials.length == 0 ? 0 : partials[0].length;
        for (int c = 0; c < columns; c++) {
            double total = get(dst, c);
            for (float[] partial : partials) {
                total += partial[c];
            }
            set(dst, c, (float) total);
        }
    }

    /**
     * The split of {@code rows} rows of {@code columns} for a column reduction: tasks of between 16 and 256 rows, so
     * that fp32 partials stay accurate and their memory stays a small fraction of the input.
     */
    static Parallel.Split columnReductionSplit(long rows, long columns) {
        long perTask = Math.clamp(Parallel.GRAIN / Math.max(1, columns), 16, 256);
        return Parallel.Split.fixed(rows, perTask);
    }
}
