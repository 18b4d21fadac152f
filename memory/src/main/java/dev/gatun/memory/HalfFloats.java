package dev.gatun.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Conversions between {@code float} and the 16-bit floating-point formats bfloat16 and IEEE binary16 (fp16),
 * one value at a time or in bulk over {@link MemorySegment} ranges.
 *
 * <p>Narrowing ({@code float} to 16 bits) rounds to nearest, ties to even, exactly as IEEE 754 does:
 * <ul>
 *   <li>±0 and ±infinity keep their sign; subnormal results (both formats) are produced where the value calls
 *       for them, and values up to half the smallest subnormal become ±0;</li>
 *   <li>a value whose rounded magnitude would exceed the largest finite value becomes ±infinity (fp16: from
 *       65520 on; bf16: from 0x1.ffp127, halfway between the largest finite value 0x1.fep127 and 2^128);</li>
 *   <li>NaN becomes a quiet NaN of the same sign that keeps the leading payload bits.</li>
 * </ul>
 * Widening is exact; a NaN input likewise becomes a quiet NaN of the same sign with its payload kept.
 *
 * <p>Bulk conversions read and write little-endian elements (the byte order of every GPU this library drives)
 * at element indices of the given segments, with no alignment needed. Heap arrays take part through
 * {@link MemorySegment#ofArray(float[])} and {@link MemorySegment#ofArray(short[])}.
 */
public final class HalfFloats {
    private static final ValueLayout.OfFloat FP32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort HALF_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final int FP32_EXPONENT_AND_MANTISSA = 0x7FFF_FFFF;
    private static final int FP32_INFINITY = 0x7F80_0000;
    private static final int FP32_QUIET_NAN = 0x7FC0_0000;
    private static final int BF16_QUIET_BIT = 0x0040;
    private static final int FP16_EXPONENT_AND_MANTISSA = 0x7FFF;
    private static final int FP16_INFINITY = 0x7C00;
    private static final int FP16_QUIET_NAN = 0x7E00;
    private static final int FP16_MANTISSA = 0x03FF;

    private HalfFloats() {
    }

    /** The bfloat16 bit pattern nearest to {@code value} (ties to even). */
    public static short floatToBf16Bits(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & FP32_EXPONENT_AND_MANTISSA) > FP32_INFINITY) {
            // Setting the quiet bit also keeps a NaN whose payload lies only in the dropped bits from turning into
            // infinity.
            return (short) ((bits >>> 16) | BF16_QUIET_BIT);
        }
        // Adding 0x7FFF plus the lowest kept bit and truncating rounds to nearest, ties to even. A carry out of the
        // mantissa moves to the next binade, which is also how values past the largest finite one reach infinity.
        int lowestKeptBit = (bits >>> 16) & 1;
        return (short) ((bits + 0x7FFF + lowestKeptBit) >>> 16);
    }

    /** The exact {@code float} value of a bfloat16 bit pattern (NaN: a quiet NaN). */
    public static float bf16BitsToFloat(short bits) {
        int wide = (bits & 0xFFFF) << 16;
        if ((wide & FP32_EXPONENT_AND_MANTISSA) > FP32_INFINITY) {
            wide |= FP32_QUIET_NAN;
        }
        return Float.intBitsToFloat(wide);
    }

    /** The IEEE binary16 bit pattern nearest to {@code value} (ties to even). */
    public static short floatToFp16Bits(float value) {
        if (Float.isNaN(value)) {
            // Float.floatToFloat16 keeps a signalling NaN signalling (and its intrinsic may not): pin the result.
            int bits = Float.floatToRawIntBits(value);
            return (short) (((bits >>> 16) & 0x8000) | FP16_QUIET_NAN | ((bits >>> 13) & FP16_MANTISSA));
        }
        return Float.floatToFloat16(value);
    }

    /** The exact {@code float} value of an IEEE binary16 bit pattern (NaN: a quiet NaN). */
    public static float fp16BitsToFloat(short bits) {
        if ((bits & FP16_EXPONENT_AND_MANTISSA) > FP16_INFINITY) {
            return Float.intBitsToFloat(((bits & 0x8000) << 16) | FP32_QUIET_NAN | ((bits & FP16_MANTISSA) << 13));
        }
        return Float.float16ToFloat(bits);
    }

    /**
     * Converts {@code count} fp32 elements of {@code src} starting at element {@code srcIndex} to bfloat16 elements
     * of {@code dst} starting at element {@code dstIndex}.
     *
     * @throws IndexOutOfBoundsException when a range does not fit in its segment
     * @throws IllegalArgumentException when {@code count} is negative or the two ranges overlap
     */
    public static void fp32ToBf16(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        narrow(src, srcIndex, dst, dstIndex, count, HalfFloats::floatToBf16Bits);
    }

    /** Converts bfloat16 elements to fp32 elements; indices, ranges and exceptions as in {@link #fp32ToBf16}. */
    public static void bf16ToFp32(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        widen(src, srcIndex, dst, dstIndex, count, HalfFloats::bf16BitsToFloat);
    }

    /** Converts fp32 elements to fp16 elements; indices, ranges and exceptions as in {@link #fp32ToBf16}. */
    public static void fp32ToFp16(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        narrow(src, srcIndex, dst, dstIndex, count, HalfFloats::floatToFp16Bits);
    }

    /** Converts fp16 elements to fp32 elements; indices, ranges and exceptions as in {@link #fp32ToBf16}. */
    public static void fp16ToFp32(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        widen(src, srcIndex, dst, dstIndex, count, HalfFloats::fp16BitsToFloat);
    }

    @FunctionalInterface
    private interface Narrowing {
        short apply(float value);
    }

    @FunctionalInterface
    private interface Widening {
        float apply(short bits);
    }

    private static void narrow(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count,
                               Narrowing convert) {
        checkRanges(src, srcIndex, Float.BYTES, dst, dstIndex, Short.BYTES, count);
        for (long i = 0; i < count; i++) {
            float value = src.getAtIndex(FP32_LE, srcIndex + i);
            dst.setAtIndex(HALF_LE, dstIndex + i, convert.apply(value));
        }
    }

    private static void widen(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count,
                              Widening convert) {
        checkRanges(src, srcIndex, Short.BYTES, dst, dstIndex, Float.BYTES, count);
        for (long i = 0; i < count; i++) {
            short bits = src.getAtIndex(HALF_LE, srcIndex + i);
            dst.setAtIndex(FP32_LE, dstIndex + i, convert.apply(bits));
        }
    }

    private static void checkRanges(MemorySegment src, long srcIndex, int srcElementBytes,
                                    MemorySegment dst, long dstIndex, int dstElementBytes, long count) {
        Objects.requireNonNull(src, "src segment must not be null");
        Objects.requireNonNull(dst, "dst segment must not be null");
        if (count < 0) {
            throw new IllegalArgumentException("element count must be >= 0, got " + count);
        }
        MemorySegment srcRange = range("src", src, srcIndex, srcElementBytes, count);
        MemorySegment dstRange = range("dst", dst, dstIndex, dstElementBytes, count);
        if (srcRange.asOverlappingSlice(dstRange).isPresent()) {
            throw new IllegalArgumentException("src and dst ranges overlap: convert into a separate buffer");
        }
    }

    private static MemorySegment range(String name, MemorySegment segment, long index, int elementBytes, long count) {
        long capacity = segment.byteSize() / elementBytes;
        if (index < 0 || index > capacity || count > capacity - index) {
            throw new IndexOutOfBoundsException(name + " elements [" + index + ", " + index + " + " + count
                    + ") do not fit in a segment of " + capacity + " elements of " + elementBytes + " bytes");
        }
        return segment.asSlice(index * elementBytes, count * elementBytes);
    }
}
