package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import dev.gatun.memory.HalfFloats;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Runs of consecutive fp32, bf16 or fp16 elements of a {@link MemorySegment} read into, or written from, a
 * {@code float[]}: the one place where {@link CpuGemm} converts element types. Elements are little-endian (the byte
 * order of {@code HalfFloats} and of every device here) and need no alignment.
 */
final class ElementRuns {
    static final ValueLayout.OfFloat FP32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private ElementRuns() {
    }

    /**
     * {@code dst[dstPos + t·dstStride] = element srcIndex + t of src}, widened to float, for {@code t < count}.
     */
    static void read(MemorySegment src, DType dtype, long srcIndex, int count, float[] dst, int dstPos, int dstStride) {
        switch (dtype) {
            case FP32 -> {
                if (dstStride == 1) {
                    MemorySegment.copy(src, FP32, srcIndex * Float.BYTES, dst, dstPos, count);
                } else {
                    long offset = srcIndex * Float.BYTES;
                    for (int t = 0; t < count; t++) {
                        dst[dstPos + t * dstStride] = src.get(FP32, offset + (long) t * Float.BYTES);
                    }
                }
            }
            case BF16 -> {
                long offset = srcIndex * Short.BYTES;
                for (int t = 0; t < count; t++) {
                    short bits = src.get(HALF, offset + (long) t * Short.BYTES);
                    dst[dstPos + t * dstStride] = HalfFloats.bf16BitsToFloat(bits);
                }
            }
            case FP16 -> {
                long offset = srcIndex * Short.BYTES;
                for (int t = 0; t < count; t++) {
                    short bits = src.get(HALF, offset + (long) t * Short.BYTES);
                    dst[dstPos + t * dstStride] = HalfFloats.fp16BitsToFloat(bits);
                }
            }
            default -> throw unsupported(dtype);
        }
    }

    /** Element {@code dstIndex + t} of {@code dst} = {@code src[srcPos + t]} rounded to nearest even, for t < count. */
    static void write(float[] src, int srcPos, int count, MemorySegment dst, DType dtype, long dstIndex) {
        switch (dtype) {
            case FP32 -> MemorySegment.copy(src, srcPos, dst, FP32, dstIndex * Float.BYTES, count);
            case BF16 -> {
                long offset = dstIndex * Short.BYTES;
                for (int t = 0; t < count; t++) {
                    dst.set(HALF, offset + (long) t * Short.BYTES, HalfFloats.floatToBf16Bits(src[srcPos + t]));
                }
            }
            case FP16 -> {
                long offset = dstIndex * Short.BYTES;
                for (int t = 0; t < count; t++) {
                    dst.set(HALF, offset + (long) t * Short.BYTES, HalfFloats.floatToFp16Bits(src[srcPos + t]));
                }
            }
            default -> throw unsupported(dtype);
        }
    }

    private static IllegalArgumentException unsupported(DType dtype) {
        return new IllegalArgumentException("GEMM element type must be fp32, bf16 or fp16, got " + dtype.shortName());
    }
}
