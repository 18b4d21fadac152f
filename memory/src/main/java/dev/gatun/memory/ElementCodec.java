package dev.gatun.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Element bit patterns and host encodings behind {@link Tensor}'s fills and array copies. */
final class ElementCodec {
    private ElementCodec() {
    }

    /** The bit pattern of {@code value} as one {@code dtype} element, in the low bits of the result. */
    static long bits(DType dtype, double value) {
        return switch (dtype) {
            case FP32 -> Float.floatToRawIntBits((float) value) & 0xFFFF_FFFFL;
            case BF16 -> HalfFloats.floatToBf16Bits((float) value) & 0xFFFFL;
            case FP16 -> HalfFloats.floatToFp16Bits((float) value) & 0xFFFFL;
            case INT32 -> {
                if (value != Math.rint(value) || value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException("int32 cannot hold " + value);
                }
                yield ((int) value) & 0xFFFF_FFFFL;
            }
            case INT64 -> {
                if (value != Math.rint(value) || value < -0x1p63 || value >= 0x1p63) {
                    throw new IllegalArgumentException("int64 cannot hold " + value);
                }
                yield (long) value;
            }
        };
    }

    /** Sets every element of {@code segment} to the pattern {@code bits}. */
    static void fillHost(MemorySegment segment, DType dtype, long bits) {
        int size = dtype.byteSize();
        long pattern = size == 8 ? bits : bits & ((1L << (8 * size)) - 1);
        long lowByte = pattern & 0xff;
        if (pattern == lowByte * (size == 8 ? 0x0101010101010101L : size == 4 ? 0x01010101L : 0x0101L)) {
            segment.fill((byte) lowByte); // every byte the same (0 above all): a memset
            return;
        }
        // The first elements one by one, then doubling copies of what is written.
        long bytes = segment.byteSize();
        long head = Math.min(bytes, 4096);
        for (long offset = 0; offset < head; offset += size) {
            switch (size) {
                case 2 -> segment.set(ValueLayout.JAVA_SHORT_UNALIGNED, offset, (short) bits);
                case 4 -> segment.set(ValueLayout.JAVA_INT_UNALIGNED, offset, (int) bits);
                default -> segment.set(ValueLayout.JAVA_LONG_UNALIGNED, offset, bits);
            }
        }
        for (long filled = head; filled < bytes; filled *= 2) {
            MemorySegment.copy(segment, 0, segment, filled, Math.min(filled, bytes - filled));
        }
    }

    /** Writes {@code values} into {@code dst} as {@code dtype} elements (fp32, bf16 or fp16). */
    static void encode(float[] values, DType dtype, MemorySegment dst) {
        switch (dtype) {
            case FP32 -> MemorySegment.copy(values, 0, dst, ValueLayout.JAVA_FLOAT, 0, values.length);
            case BF16 -> {
                for (int i = 0; i < values.length; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.floatToBf16Bits(values[i]));
                }
            }
            case FP16 -> {
                for (int i = 0; i < values.length; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_SHORT, i, HalfFloats.floatToFp16Bits(values[i]));
                }
            }
            default -> throw new IllegalArgumentException(dtype.shortName() + " is not a floating-point type");
        }
    }

    /** Reads {@code out.length} {@code dtype} elements (fp32, bf16 or fp16) from {@code src} as floats. */
    static void decode(MemorySegment src, DType dtype, float[] out) {
        switch (dtype) {
            case FP32 -> MemorySegment.copy(src, ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
            case BF16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = HalfFloats.bf16BitsToFloat(src.getAtIndex(ValueLayout.JAVA_SHORT, i));
                }
            }
            case FP16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = HalfFloats.fp16BitsToFloat(src.getAtIndex(ValueLayout.JAVA_SHORT, i));
                }
            }
            default -> throw new IllegalArgumentException(dtype.shortName() + " is not a floating-point type");
        }
    }
}
