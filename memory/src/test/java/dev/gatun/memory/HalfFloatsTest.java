package dev.gatun.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class HalfFloatsTest {
    /** The two formats, each with its code under test and its independent reference. */
    enum Half {
        BF16(ReferenceFloatFormat.BF16, 0x0040) {
            @Override
            short encode(float value) {
                return HalfFloats.floatToBf16Bits(value);
            }

            @Override
            float decode(short bits) {
                return HalfFloats.bf16BitsToFloat(bits);
            }

            @Override
            void encodeBulk(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
                HalfFloats.fp32ToBf16(src, srcIndex, dst, dstIndex, count);
            }

            @Override
            void decodeBulk(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
                HalfFloats.bf16ToFp32(src, srcIndex, dst, dstIndex, count);
            }
        },
        FP16(ReferenceFloatFormat.FP16, 0x0200) {
            @Override
            short encode(float value) {
                return HalfFloats.floatToFp16Bits(value);
            }

            @Override
            float decode(short bits) {
                return HalfFloats.fp16BitsToFloat(bits);
            }

            @Override
            void encodeBulk(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
                HalfFloats.fp32ToFp16(src, srcIndex, dst, dstIndex, count);
            }

            @Override
            void decodeBulk(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
                HalfFloats.fp16ToFp32(src, srcIndex, dst, dstIndex, count);
            }
        };

        final ReferenceFloatFormat reference;
        final int quietBit;

        Half(ReferenceFloatFormat reference, int quietBit) {
            this.reference = reference;
            this.quietBit = quietBit;
        }

        abstract short encode(float value);

        abstract float decode(short bits);

        abstract void encodeBulk(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count);

        abstract void decodeBulk(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count);

        /** Checks one float against the reference: RNE for numbers, a quiet NaN of the same sign for NaN. */
        void checkEncode(float value) {
            int actual = encode(value) & 0xFFFF;
            if (Float.isNaN(value)) {
                int sign = Float.floatToRawIntBits(value) < 0 ? reference.signBit() : 0;
                if (!reference.isNaN(actual) || (actual & quietBit) == 0 || (actual & reference.signBit()) != sign) {
                    fail(this + ": NaN " + hex(value) + " gave " + Integer.toHexString(actual)
                            + ", want a quiet NaN of the same sign");
                }
                return;
            }
            int expected = reference.encode(value);
            if (actual != expected) {
                fail(this + ": " + value + " (" + hex(value) + ") gave " + Integer.toHexString(actual)
                        + ", reference " + Integer.toHexString(expected));
            }
        }
    }

    private static final int[] NAN_PAYLOADS = {
        0x7F80_0001, 0x7F80_1000, 0x7F80_8000, 0x7FA0_0000, 0x7FC0_0000, 0x7FFF_FFFF, 0x7FC0_0001, 0x7F80_2000,
    };

    @Test
    void referenceModelIsSelfConsistent() {
        for (Half half : Half.values()) {
            ReferenceFloatFormat format = half.reference;
            for (int bits = 0; bits < 0x10000; bits++) {
                if (!format.isNaN(bits)) {
                    assertEquals(bits, format.encode(format.decode(bits)), half + " reference, " + bits);
                }
            }
        }
        assertEquals(65504.0, ReferenceFloatFormat.FP16.decode(0x7BFF));
        assertEquals(0x1.fep127, ReferenceFloatFormat.BF16.decode(0x7F7F));
        assertEquals(0x1p-24, ReferenceFloatFormat.FP16.decode(0x0001));
        assertEquals(0x1p-133, ReferenceFloatFormat.BF16.decode(0x0001));
    }

    @ParameterizedTest
    @EnumSource(Half.class)
    void decodeMatchesReferenceForAllBitPatterns(Half half) {
        for (int bits = 0; bits < 0x10000; bits++) {
            float actual = half.decode((short) bits);
            if (half.reference.isNaN(bits)) {
                int raw = Float.floatToRawIntBits(actual);
                assertTrue(Float.isNaN(actual) && (raw & 0x0040_0000) != 0, half + " " + Integer.toHexString(bits));
                assertEquals((bits & half.reference.signBit()) != 0, raw < 0, half + " NaN sign");
            } else {
                float expected = (float) half.reference.decode(bits);
                if (Float.floatToRawIntBits(actual) != Float.floatToRawIntBits(expected)) {
                    fail(half + ": " + Integer.toHexString(bits) + " decoded to " + actual + ", want " + expected);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Half.class)
    void everyBitPatternRoundTrips(Half half) {
        for (int bits = 0; bits < 0x10000; bits++) {
            int back = half.encode(half.decode((short) bits)) & 0xFFFF;
            // A NaN comes back as the same NaN made quiet.
            int expected = half.reference.isNaN(bits) ? bits | half.quietBit : bits;
            if (back != expected) {
                fail(half + ": " + Integer.toHexString(bits) + " came back as " + Integer.toHexString(back));
            }
        }
    }

    /** Each halfway point between neighbours (both signs) and the floats just either side of it. */
    @ParameterizedTest
    @EnumSource(Half.class)
    void roundsEveryHalfwayPointToEven(Half half) {
        ReferenceFloatFormat format = half.reference;
        for (int bits = 0; bits <= format.maxFiniteBits(); bits++) {
            float midpoint = (float) ((format.decode(bits) + format.nextMagnitude(bits)) / 2);
            for (float value : new float[] {midpoint, Math.nextDown(midpoint), Math.nextUp(midpoint)}) {
                half.checkEncode(value);
                half.checkEncode(-value);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Half.class)
    void encodeMatchesReferenceForRandomFloats(Half half) {
        long seed = System.nanoTime();
        SplittableRandom random = new SplittableRandom(seed);
        try {
            for (int i = 0; i < 2_000_000; i++) {
                half.checkEncode(Float.intBitsToFloat(random.nextInt()));
                // Random floats whose exponent lies in and around the format's range (all of fp16's lies far
                // inside float's, where uniform bit patterns seldom fall).
                int exponent = random.nextInt(half.reference.minExponent() - 13, half.reference.maxExponent() + 3);
                float inRange = Math.scalb(1 + random.nextInt(1 << 23) / (float) (1 << 23), exponent);
                half.checkEncode(random.nextBoolean() ? inRange : -inRange);
            }
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + " (random seed " + seed + ")", e);
        }
    }

    @ParameterizedTest
    @EnumSource(Half.class)
    void edgeCasesMatchReference(Half half) {
        float[] edges = {
            0f, -0f, 1f, -1f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE,
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 65504f, 65519.99f, 65520f, -65520f, 65536f,
            0x1p-24f, 0x1p-25f, 0x1.8p-24f, 0x1p-14f, 0x1.ffcp-15f, 0x1.fep127f, 0x1.ffp127f,
            Math.nextDown(0x1.ffp127f), 0x1p-133f, 0x1p-134f, 0x1.8p-133f, 0x1p-126f,
        };
        for (float edge : edges) {
            half.checkEncode(edge);
        }
        for (int payload : NAN_PAYLOADS) {
            half.checkEncode(Float.intBitsToFloat(payload));
            half.checkEncode(Float.intBitsToFloat(payload | 0x8000_0000));
        }
    }

    @Test
    void bf16KnownValues() {
        assertEquals((short) 0x3F80, HalfFloats.floatToBf16Bits(1f));
        assertEquals((short) 0x8000, HalfFloats.floatToBf16Bits(-0f));
        assertEquals((short) 0x3F80, HalfFloats.floatToBf16Bits(0x1.01p0f), "tie goes to the even 1.0");
        assertEquals((short) 0x3F82, HalfFloats.floatToBf16Bits(0x1.03p0f), "tie goes to the even 0x3F82");
        assertEquals((short) 0x7F7F, HalfFloats.floatToBf16Bits(Math.nextDown(0x1.ffp127f)), "largest finite");
        assertEquals((short) 0x7F80, HalfFloats.floatToBf16Bits(0x1.ffp127f), "overflow threshold to +Inf");
        assertEquals((short) 0xFF80, HalfFloats.floatToBf16Bits(-Float.MAX_VALUE));
        assertEquals((short) 0x0000, HalfFloats.floatToBf16Bits(Float.MIN_VALUE), "far below the least subnormal");
        assertEquals((short) 0x0001, HalfFloats.floatToBf16Bits(0x1p-133f), "least subnormal");
        assertEquals((short) 0x0002, HalfFloats.floatToBf16Bits(0x1.8p-133f), "subnormal tie to even");
        assertEquals((short) 0x7FC0, HalfFloats.floatToBf16Bits(Float.intBitsToFloat(0x7F80_0001)),
                "NaN with a payload only in dropped bits stays NaN, quiet");
        assertEquals((short) 0xFFC0, HalfFloats.floatToBf16Bits(Float.intBitsToFloat(0xFF80_0001)));
        assertEquals(0x7FC1_0000, Float.floatToRawIntBits(HalfFloats.bf16BitsToFloat((short) 0x7F81)));
    }

    @Test
    void fp16KnownValues() {
        assertEquals((short) 0x3C00, HalfFloats.floatToFp16Bits(1f));
        assertEquals((short) 0x7BFF, HalfFloats.floatToFp16Bits(65504f));
        assertEquals((short) 0x7BFF, HalfFloats.floatToFp16Bits(Math.nextDown(65520f)));
        assertEquals((short) 0x7C00, HalfFloats.floatToFp16Bits(65520f), "65520 rounds to +Inf");
        assertEquals((short) 0xFC00, HalfFloats.floatToFp16Bits(-65520f));
        assertEquals((short) 0x0001, HalfFloats.floatToFp16Bits(0x1p-24f), "least subnormal");
        assertEquals((short) 0x0000, HalfFloats.floatToFp16Bits(0x1p-25f), "half the least subnormal: tie to 0");
        assertEquals((short) 0x0001, HalfFloats.floatToFp16Bits(Math.nextUp(0x1p-25f)));
        assertEquals((short) 0x0002, HalfFloats.floatToFp16Bits(0x1.8p-24f), "subnormal tie to even");
        assertEquals((short) 0x0400, HalfFloats.floatToFp16Bits(0x1.ffep-15f), "rounds up to the least normal");
        assertEquals((short) 0x8000, HalfFloats.floatToFp16Bits(-0f));
        assertEquals((short) 0x7E00, HalfFloats.floatToFp16Bits(Float.intBitsToFloat(0x7F80_0001)));
        assertEquals((short) 0xFF00, HalfFloats.floatToFp16Bits(Float.intBitsToFloat(0xFFA0_0000)));
        assertEquals(0x7FC0_2000, Float.floatToRawIntBits(HalfFloats.fp16BitsToFloat((short) 0x7C01)));
        assertEquals(0x1p-24f, HalfFloats.fp16BitsToFloat((short) 0x0001));
    }

    @ParameterizedTest
    @EnumSource(Half.class)
    void bulkConversionMatchesScalarAtOffsets(Half half) {
        SplittableRandom random = new SplittableRandom();
        int n = 1000;
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) random.nextDouble(-70000, 70000);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment halves = arena.allocate(2L * (n + 5));
            halves.fill((byte) 0x5A);
            half.encodeBulk(MemorySegment.ofArray(values), 3, halves, 5, n - 3);
            for (int i = 0; i < n + 5; i++) {
                short expected = i < 5 || i >= n + 2 ? (short) 0x5A5A : half.encode(values[i - 2]);
                assertEquals(expected, halves.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i), "element " + i);
            }

            float[] widened = new float[n + 1];
            Arrays.fill(widened, Float.NaN);
            half.decodeBulk(halves, 5, MemorySegment.ofArray(widened), 1, n - 3);
            for (int i = 0; i < n + 1; i++) {
                float expected = i >= 1 && i < n - 2 ? half.decode(half.encode(values[i + 2])) : Float.NaN;
                assertEquals(expected, widened[i], "element " + i);
            }
        }
    }

    @Test
    void bulkWritesLittleEndian() {
        byte[] out = new byte[4];
        HalfFloats.fp32ToBf16(MemorySegment.ofArray(new float[] {1f, -2f}), 0, MemorySegment.ofArray(out), 0, 2);
        assertArrayEquals(new byte[] {(byte) 0x80, 0x3F, 0x00, (byte) 0xC0}, out);
        HalfFloats.fp32ToFp16(MemorySegment.ofArray(new float[] {1f}), 0, MemorySegment.ofArray(out), 1, 1);
        assertArrayEquals(new byte[] {(byte) 0x80, 0x3F, 0x00, 0x3C}, out);
    }

    @Test
    void bulkRejectsBadRanges() {
        MemorySegment floats = MemorySegment.ofArray(new float[8]);
        MemorySegment shorts = MemorySegment.ofArray(new short[8]);
        IndexOutOfBoundsException tooLong = assertThrows(IndexOutOfBoundsException.class,
                () -> HalfFloats.fp32ToBf16(floats, 2, shorts, 0, 7));
        assertEquals("src elements [2, 2 + 7) do not fit in a segment of 8 elements of 4 bytes", tooLong.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> HalfFloats.fp16ToFp32(shorts, 0, floats, -1, 1));
        assertThrows(IllegalArgumentException.class, () -> HalfFloats.bf16ToFp32(shorts, 0, floats, 0, -1));
        MemorySegment shared = MemorySegment.ofArray(new byte[64]);
        IllegalArgumentException overlap = assertThrows(IllegalArgumentException.class,
                () -> HalfFloats.fp32ToFp16(shared, 0, shared, 4, 4));
        assertTrue(overlap.getMessage().contains("overlap"), overlap.getMessage());
        HalfFloats.fp32ToFp16(shared, 0, shared, 8, 4);
        HalfFloats.fp32ToBf16(floats, 8, shorts, 8, 0);
    }

    private static String hex(float value) {
        return Integer.toHexString(Float.floatToRawIntBits(value));
    }
}
