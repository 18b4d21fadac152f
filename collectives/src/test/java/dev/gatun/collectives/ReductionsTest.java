package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.HalfFloats;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class ReductionsTest {
    @Test
    void reducesRangesLongerThanATileIntoEveryOutput() {
        int n = 10_000;
        int ranks = 3;
        SplittableRandom random = new SplittableRandom(1);
        float[][] in = new float[ranks][n];
        MemorySegment[] ins = new MemorySegment[ranks];
        for (int q = 0; q < ranks; q++) {
            for (int i = 0; i < n; i++) {
                in[q][i] = (float) random.nextDouble(-1, 1);
            }
            ins[q] = MemorySegment.ofArray(in[q].clone());
        }
        MemorySegment[] outs = {MemorySegment.ofArray(new float[n]), MemorySegment.ofArray(new float[n])};
        Reductions.reduce(DType.FP32, ReduceOp.MAX, ins, 100, outs, 100, n - 200);
        for (MemorySegment out : outs) {
            float[] got = out.toArray(ValueLayout.JAVA_FLOAT);
            for (int i = 0; i < n; i++) {
                float expected = i < 100 || i >= n - 100 ? 0 : Math.max(in[0][i], Math.max(in[1][i], in[2][i]));
                assertEquals(expected, got[i], "element " + i);
            }
        }
    }

    /**
     * The fp32 sum and average (the vector path) equal the rank-order float sum element by element, bit for bit, at
     * offsets and lengths that leave a tail shorter than a vector, in native and heap memory and in place.
     */
    @Test
    void fp32SumsAndAveragesAddInRankOrder() {
        SplittableRandom random = new SplittableRandom(7);
        for (ReduceOp op : new ReduceOp[] {ReduceOp.SUM, ReduceOp.AVG}) {
            for (int trial = 0; trial < 20; trial++) {
                int ranks = 2 + random.nextInt(4);
                int n = 1 + random.nextInt(3000);
                int from = random.nextInt(40);
                int count = random.nextInt(n - Math.min(n, from) + 1);
                boolean heap = trial % 2 == 0;
                boolean inPlace = trial % 3 == 0;
                float[][] in = new float[ranks][n];
                MemorySegment[] ins = new MemorySegment[ranks];
                java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofAuto();
                for (int q = 0; q < ranks; q++) {
                    for (int i = 0; i < n; i++) {
                        in[q][i] = (float) (random.nextDouble(-1, 1) * Math.pow(2, random.nextInt(-20, 20)));
                    }
                    ins[q] = heap ? MemorySegment.ofArray(in[q].clone())
                            : arena.allocate((long) n * Float.BYTES, 4).copyFrom(MemorySegment.ofArray(in[q]));
                }
                MemorySegment[] outs = inPlace ? ins.clone() : new MemorySegment[] {
                        heap ? MemorySegment.ofArray(new float[n]) : arena.allocate((long) n * Float.BYTES, 4),
                        heap ? MemorySegment.ofArray(new float[n]) : arena.allocate((long) n * Float.BYTES, 4)};
                float[][] before = new float[outs.length][];
                for (int k = 0; k < outs.length; k++) {
                    before[k] = outs[k].toArray(ValueLayout.JAVA_FLOAT);
                }
                Reductions.reduce(DType.FP32, op, ins, from, outs, from, count);
                for (int k = 0; k < outs.length; k++) {
                    float[] got = outs[k].toArray(ValueLayout.JAVA_FLOAT);
                    for (int i = 0; i < n; i++) {
                        float expected = before[k][i];
                        if (i >= from && i < from + count) {
                            expected = in[0][i];
                            for (int q = 1; q < ranks; q++) {
                                expected += in[q][i];
                            }
                            if (op == ReduceOp.AVG) {
                                expected /= ranks;
                            }
                        }
                        assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(got[i]),
                                op + " trial " + trial + " output " + k + " element " + i);
                    }
                }
            }
        }
    }

    @Test
    void worksInPlace() {
        MemorySegment a = MemorySegment.ofArray(new int[] {1, 2, 3});
        MemorySegment b = MemorySegment.ofArray(new int[] {10, 20, 30});
        Reductions.reduce(DType.INT32, ReduceOp.SUM, new MemorySegment[] {a, b}, 0, new MemorySegment[] {a, b}, 0, 3);
        assertArrayEquals(new int[] {11, 22, 33}, a.toArray(ValueLayout.JAVA_INT));
        assertArrayEquals(new int[] {11, 22, 33}, b.toArray(ValueLayout.JAVA_INT));
    }

    @Test
    void int32SumsWrapAndAveragesAreExact() {
        MemorySegment a = MemorySegment.ofArray(new int[] {Integer.MAX_VALUE, -7});
        MemorySegment b = MemorySegment.ofArray(new int[] {Integer.MAX_VALUE, 2});
        MemorySegment sum = MemorySegment.ofArray(new int[2]);
        MemorySegment avg = MemorySegment.ofArray(new int[2]);
        MemorySegment[] ins = {a, b};
        Reductions.reduce(DType.INT32, ReduceOp.SUM, ins, 0, new MemorySegment[] {sum}, 0, 2);
        Reductions.reduce(DType.INT32, ReduceOp.AVG, ins, 0, new MemorySegment[] {avg}, 0, 2);
        assertArrayEquals(new int[] {-2, -5}, sum.toArray(ValueLayout.JAVA_INT));
        assertArrayEquals(new int[] {Integer.MAX_VALUE, -2}, avg.toArray(ValueLayout.JAVA_INT), "truncated to zero");
    }

    @Test
    void int64SumsWrap() {
        MemorySegment a = MemorySegment.ofArray(new long[] {Long.MAX_VALUE, 5});
        MemorySegment b = MemorySegment.ofArray(new long[] {1, -9});
        MemorySegment out = MemorySegment.ofArray(new long[2]);
        Reductions.reduce(DType.INT64, ReduceOp.SUM, new MemorySegment[] {a, b}, 0, new MemorySegment[] {out}, 0, 2);
        assertArrayEquals(new long[] {Long.MIN_VALUE, -4}, out.toArray(ValueLayout.JAVA_LONG));
        Reductions.reduce(DType.INT64, ReduceOp.MIN, new MemorySegment[] {a, b}, 0, new MemorySegment[] {out}, 0, 2);
        assertArrayEquals(new long[] {1, -9}, out.toArray(ValueLayout.JAVA_LONG));
    }

    @Test
    void halfPrecisionAccumulatesInFp32AndRoundsOnce() {
        // 1 + 4 × 2^-9: rounding each partial sum to bf16 (7 fraction bits) would stay at 1 every time; summing in
        // fp32 and rounding once gives 1 + 2^-7, which bf16 holds exactly.
        short one = HalfFloats.floatToBf16Bits(1f);
        short tiny = HalfFloats.floatToBf16Bits(0x1p-9f);
        MemorySegment[] ins = {bf16(one), bf16(tiny), bf16(tiny), bf16(tiny), bf16(tiny)};
        MemorySegment out = MemorySegment.ofArray(new short[1]);
        Reductions.reduce(DType.BF16, ReduceOp.SUM, ins, 0, new MemorySegment[] {out}, 0, 1);
        assertEquals(1f + 0x1p-7f, HalfFloats.bf16BitsToFloat(out.get(ValueLayout.JAVA_SHORT, 0)));
    }

    @Test
    void fp16AveragesDivideTheFp32Sum() {
        MemorySegment[] ins = {fp16(3f), fp16(4f), fp16(6f)};
        MemorySegment out = MemorySegment.ofArray(new short[1]);
        Reductions.reduce(DType.FP16, ReduceOp.AVG, ins, 0, new MemorySegment[] {out}, 0, 1);
        assertEquals(HalfFloats.fp16BitsToFloat(HalfFloats.floatToFp16Bits(13f / 3)),
                HalfFloats.fp16BitsToFloat(out.get(ValueLayout.JAVA_SHORT, 0)));
    }

    @Test
    void branchFreeBf16RoundingMatchesHalfFloats() {
        SplittableRandom random = new SplittableRandom(7);
        int[] special = {0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0x7F80_0001, 0xFF80_0001, 0x7FFF_FFFF,
            0x7F7F_FFFF, 0x7F7F_8000, 0x7F7F_7FFF, 0x3F80_8000, 0x3F81_8000, 0x0000_8000, 0x0001_8000, 0x0000_0001};
        for (int bits : special) {
            float f = Float.intBitsToFloat(bits);
            assertEquals(HalfFloats.floatToBf16Bits(f), Reductions.toBf16(f), Integer.toHexString(bits));
        }
        for (int k = 0; k < 1_000_000; k++) {
            float f = Float.intBitsToFloat(random.nextInt());
            assertEquals(HalfFloats.floatToBf16Bits(f), Reductions.toBf16(f), Float.toString(f));
        }
    }

    private static MemorySegment bf16(short bits) {
        return MemorySegment.ofArray(new short[] {bits});
    }

    private static MemorySegment fp16(float value) {
        return MemorySegment.ofArray(new short[] {HalfFloats.floatToFp16Bits(value)});
    }
}
