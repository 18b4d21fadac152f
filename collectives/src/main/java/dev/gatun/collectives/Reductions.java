package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.HalfFloats;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The element-wise reduction behind the in-process all-reduce, reduce-scatter and reduce: one range of elements,
 * reduced over the inputs of all ranks in rank order, written into one or more outputs. Floating-point types
 * accumulate in fp32 and round once; int32 accumulates in int64 (its SUM keeps the low 32 bits, so it wraps as
 * int32 would; its AVG is exact); int64 wraps. An fp32 sum or average runs in vector registers straight from the
 * inputs into every output (each element read once per input and written once per output, the least memory traffic
 * there is); the other cases work tile by tile through heap arrays so the inner loops are plain array loops that the
 * JIT vectorises, and move bytes with bulk {@link MemorySegment#copy} calls. Both add in rank order, element by
 * element, so the result does not depend on the path.
 */
final class Reductions {
    private static final int TILE = 4096;
    private static final VectorSpecies<Float> LANES = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private Reductions() {
    }

    /**
     * For {@code i} in {@code [0, count)}: {@code outs[k][outIndex + i] = ⊕_q ins[q][inIndex + i]} for every
     * {@code k}, indices in elements. Each element is read from every input before any output element is written,
     * so an output may be the same memory as an input (in place).
     */
    static void reduce(DType dtype, ReduceOp op, MemorySegment[] ins, long inIndex, MemorySegment[] outs,
                       long outIndex, long count) {
        if (count == 0) {
            return;
        }
        int tile = (int) Math.min(TILE, count);
        if (dtype == DType.FP32 && (op == ReduceOp.SUM || op == ReduceOp.AVG)) {
            sumFloats(op == ReduceOp.AVG, ins, inIndex, outs, outIndex, count);
        } else if (dtype.isFloatingPoint()) {
            reduceFloats(dtype, op, ins, inIndex, outs, outIndex, count, tile);
        } else {
            reduceIntegers(dtype, op, ins, inIndex, outs, outIndex, count, tile);
        }
    }

    /**
     * fp32 sum (or average) of {@code count} elements: one vector of every input added in rank order, then stored
     * into every output; the tail that does not fill a vector goes element by element in the same order.
     */
    private static void sumFloats(boolean average, MemorySegment[] ins, long inIndex, MemorySegment[] outs,
                                  long outIndex, long count) {
        int n = ins.length;
        int lanes = LANES.length();
        long vectorEnd = count - count % lanes;
        long inByte = inIndex * Float.BYTES;
        long outByte = outIndex * Float.BYTES;
        for (long i = 0; i < vectorEnd; i += lanes) {
            long ib = inByte + i * Float.BYTES;
            FloatVector acc = FloatVector.fromMemorySegment(LANES, ins[0], ib, ORDER);
            for (int q = 1; q < n; q++) {
                acc = acc.add(FloatVector.fromMemorySegment(LANES, ins[q], ib, ORDER));
            }
            if (average) {
                acc = acc.div((float) n);
            }
            long ob = outByte + i * Float.BYTES;
            for (MemorySegment out : outs) {
                acc.intoMemorySegment(out, ob, ORDER);
            }
        }
        for (long i = vectorEnd; i < count; i++) {
            float acc = ins[0].getAtIndex(ValueLayout.JAVA_FLOAT, inIndex + i);
            for (int q = 1; q < n; q++) {
                acc += ins[q].getAtIndex(ValueLayout.JAVA_FLOAT, inIndex + i);
            }
            if (average) {
                acc /= n;
            }
            for (MemorySegment out : outs) {
                out.setAtIndex(ValueLayout.JAVA_FLOAT, outIndex + i, acc);
            }
        }
    }

    private static void reduceFloats(DType dtype, ReduceOp op, MemorySegment[] ins, long inIndex,
                                     MemorySegment[] outs, long outIndex, long count, int tile) {
        float[] acc = new float[tile];
        float[] next = new float[tile];
        short[] half = dtype.byteSize() == 2 ? new short[tile] : null;
        int n = ins.length;
        for (long done = 0; done < count; ) {
            int len = (int) Math.min(tile, count - done);
            loadFloats(dtype, ins[0], inIndex + done, acc, half, len);
            for (int q = 1; q < n; q++) {
                loadFloats(dtype, ins[q], inIndex + done, next, half, len);
                switch (op) {
                    case SUM, AVG -> {
                        for (int i = 0; i < len; i++) {
                            acc[i] += next[i];
                        }
                    }
                    case MAX -> {
                        for (int i = 0; i < len; i++) {
                            acc[i] = Math.max(acc[i], next[i]);
                        }
                    }
                    case MIN -> {
                        for (int i = 0; i < len; i++) {
                            acc[i] = Math.min(acc[i], next[i]);
                        }
                    }
                }
            }
            if (op == ReduceOp.AVG) {
                for (int i = 0; i < len; i++) {
                    acc[i] /= n;
                }
            }
            storeFloats(dtype, acc, half, len, outs[0], outIndex + done);
            copyToOthers(outs, (outIndex + done) * dtype.byteSize(), (long) len * dtype.byteSize());
            done += len;
        }
    }

    private static void reduceIntegers(DType dtype, ReduceOp op, MemorySegment[] ins, long inIndex,
                                       MemorySegment[] outs, long outIndex, long count, int tile) {
        long[] acc = new long[tile];
        long[] next = new long[tile];
        int[] ints = dtype == DType.INT32 ? new int[tile] : null;
        int n = ins.length;
        for (long done = 0; done < count; ) {
            int len = (int) Math.min(tile, count - done);
            loadLongs(dtype, ins[0], inIndex + done, acc, ints, len);
            for (int q = 1; q < n; q++) {
                loadLongs(dtype, ins[q], inIndex + done, next, ints, len);
                switch (op) {
                    case SUM, AVG -> {
                        for (int i = 0; i < len; i++) {
                            acc[i] += next[i];
                        }
                    }
                    case MAX -> {
                        for (int i = 0; i < len; i++) {
                            acc[i] = Math.max(acc[i], next[i]);
                        }
                    }
                    case MIN -> {
                        for (int i = 0; i < len; i++) {
                            acc[i] = Math.min(acc[i], next[i]);
                        }
                    }
                }
            }
            if (op == ReduceOp.AVG) {
                for (int i = 0; i < len; i++) {
                    acc[i] /= n;
                }
            }
            long offset = (outIndex + done) * dtype.byteSize();
            if (ints != null) {
                for (int i = 0; i < len; i++) {
                    ints[i] = (int) acc[i];
                }
                MemorySegment.copy(ints, 0, outs[0], ValueLayout.JAVA_INT, offset, len);
            } else {
                MemorySegment.copy(acc, 0, outs[0], ValueLayout.JAVA_LONG, offset, len);
            }
            copyToOthers(outs, offset, (long) len * dtype.byteSize());
            done += len;
        }
    }

    private static void loadFloats(DType dtype, MemorySegment src, long index, float[] dst, short[] half, int len) {
        if (dtype == DType.FP32) {
            MemorySegment.copy(src, ValueLayout.JAVA_FLOAT, index * Float.BYTES, dst, 0, len);
            return;
        }
        MemorySegment.copy(src, ValueLayout.JAVA_SHORT, index * Short.BYTES, half, 0, len);
        if (dtype == DType.BF16) {
            for (int i = 0; i < len; i++) {
                dst[i] = Float.intBitsToFloat(half[i] << 16);
            }
        } else {
            for (int i = 0; i < len; i++) {
                dst[i] = Float.float16ToFloat(half[i]);
            }
        }
    }

    private static void storeFloats(DType dtype, float[] src, short[] half, int len, MemorySegment dst, long index) {
        if (dtype == DType.FP32) {
            MemorySegment.copy(src, 0, dst, ValueLayout.JAVA_FLOAT, index * Float.BYTES, len);
            return;
        }
        if (dtype == DType.BF16) {
            for (int i = 0; i < len; i++) {
                half[i] = toBf16(src[i]);
            }
        } else {
            for (int i = 0; i < len; i++) {
                half[i] = HalfFloats.floatToFp16Bits(src[i]);
            }
        }
        MemorySegment.copy(half, 0, dst, ValueLayout.JAVA_SHORT, index * Short.BYTES, len);
    }

    /**
     * {@link HalfFloats#floatToBf16Bits} without branches, so the loop over it vectorises: round to nearest even by
     * adding 0x7FFF plus the lowest kept bit; a NaN keeps its sign and leading payload with the quiet bit set.
     */
    static short toBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        int rounded = (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16;
        int quietNan = (bits >>> 16) | 0x40;
        return (short) ((bits & 0x7FFF_FFFF) > 0x7F80_0000 ? quietNan : rounded);
    }

    private static void loadLongs(DType dtype, MemorySegment src, long index, long[] dst, int[] ints, int len) {
        if (ints == null) {
            MemorySegment.copy(src, ValueLayout.JAVA_LONG, index * Long.BYTES, dst, 0, len);
            return;
        }
        MemorySegment.copy(src, ValueLayout.JAVA_INT, index * Integer.BYTES, ints, 0, len);
        for (int i = 0; i < len; i++) {
            dst[i] = ints[i];
        }
    }

    private static void copyToOthers(MemorySegment[] outs, long byteOffset, long bytes) {
        for (int k = 1; k < outs.length; k++) {
            MemorySegment.copy(outs[0], byteOffset, outs[k], byteOffset, bytes);
        }
    }
}
