package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import dev.gatun.memory.HalfFloats;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@link CpuBackend#cast} bit for bit against {@link HalfFloats}, special values included. */
class CastsTest extends CpuBackendTestBase {
    private static final long SEED = 31;
    /**
     * Specials (signed zeros, infinities, quiet and signalling NaNs with payloads, the largest float, subnormals,
     * bf16 and fp16 rounding ties and overflow thresholds) spread through random bit patterns, 40_037 in all: vector
     * bodies, tails and several tasks.
     */
    private static float[] inputs() {
        int[] specials = {0x0000_0000, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0xFFC0_0001, 0x7F80_0001,
                0xFF80_FFFF, 0x7F81_0000, 0x7F7F_FFFF, 0xFF7F_FFFF, 0x7F7F_8000, 0x0000_0001, 0x8000_0001, 0x007F_FFFF,
                0x3F80_8000, 0x3F81_8000, 0x3F80_8001, 0xBF81_8000, 0x3F80_7FFF, 0x477F_F000, 0x477F_EFFF, 0x3380_0000,
                0x3300_0000, 0x3300_0001, 0x3880_0000, 0x387F_C000};
        Random random = new Random(SEED);
        float[] x = new float[40_037];
        for (int i = 0; i < x.length; i++) {
            x[i] = i % 3 == 0 ? Float.intBitsToFloat(specials[(i / 3) % specials.length])
                    : i % 3 == 1 ? Float.intBitsToFloat(random.nextInt()) : (float) random.nextGaussian();
        }
        return x;
    }

    @Test
    void fp32ToBf16AndFp16RoundLikeHalfFloats() {
        float[] x = inputs();
        try (TestTensors ts = new TestTensors()) {
            Tensor src = ts.zeros("src", DType.FP32, x.length);
            src.copyFrom(x, ts.stream);
            for (DType to : new DType[]{DType.BF16, DType.FP16}) {
                Tensor dst = ts.zeros("dst", to, x.length);
                dst.fill(Double.NaN, ts.stream);
                backend.cast(src, dst);
                short[] bits = shorts(dst);
                for (int i = 0; i < x.length; i++) {
                    short expected = to == DType.BF16 ? HalfFloats.floatToBf16Bits(x[i])
                            : HalfFloats.floatToFp16Bits(x[i]);
                    int input = Float.floatToRawIntBits(x[i]);
                    assertEquals(expected, bits[i], () -> "fp32 -> " + to.shortName() + " of 0x"
                            + Integer.toHexString(input) + ", seed " + SEED);
                }
            }
        }
    }

    @Test
    void halfCastsWidenExactlyAndNarrowOnce() {
        float[] x = inputs();
        try (TestTensors ts = new TestTensors()) {
            for (DType half : new DType[]{DType.BF16, DType.FP16}) {
                DType other = half == DType.BF16 ? DType.FP16 : DType.BF16;
                Tensor src = ts.zeros("src", half, x.length);
                MemorySegment s = src.hostSegment();
                for (int i = 0; i < x.length; i++) {
                    s.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) Float.floatToRawIntBits(x[i]));
                }
                Tensor wide = ts.zeros("wide", DType.FP32, x.length);
                Tensor narrow = ts.zeros("narrow", other, x.length);
                Tensor copy = ts.zeros("copy", half, x.length);
                backend.cast(src, wide);
                backend.cast(src, narrow);
                backend.cast(src, copy);
                short[] narrowBits = shorts(narrow);
                short[] copyBits = shorts(copy);
                float[] widened = wide.toFloatArray(ts.stream);
                for (int i = 0; i < x.length; i++) {
                    short bits = s.getAtIndex(ValueLayout.JAVA_SHORT, i);
                    float exact = half == DType.BF16 ? HalfFloats.bf16BitsToFloat(bits)
                            : HalfFloats.fp16BitsToFloat(bits);
                    short rounded = other == DType.BF16 ? HalfFloats.floatToBf16Bits(exact)
                            : HalfFloats.floatToFp16Bits(exact);
                    int index = i;
                    assertEquals(Float.floatToRawIntBits(exact), Float.floatToRawIntBits(widened[i]),
                            () -> half.shortName() + " -> fp32 of 0x" + Integer.toHexString(bits & 0xFFFF) + " at "
                                    + index);
                    assertEquals(rounded, narrowBits[i], () -> half.shortName() + " -> " + other.shortName() + " of 0x"
                            + Integer.toHexString(bits & 0xFFFF));
                    assertEquals(bits, copyBits[i], "same-dtype cast copies");
                }
            }
        }
    }

    @Test
    void fp32ToFp32Copies() {
        float[] x = inputs();
        try (TestTensors ts = new TestTensors()) {
            Tensor src = ts.zeros("src", DType.FP32, x.length);
            src.copyFrom(x, ts.stream);
            Tensor dst = ts.poisoned("dst", x.length);
            backend.cast(src, dst);
            float[] out = dst.toFloatArray(ts.stream);
            for (int i = 0; i < x.length; i++) {
                assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(out[i]), "element " + i);
            }
        }
    }

    private static short[] shorts(Tensor t) {
        return t.hostSegment().toArray(ValueLayout.JAVA_SHORT);
    }
}
