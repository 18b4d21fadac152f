package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import dev.gatun.memory.HalfFloats;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.gatun.ops.cpu.Lanes.F;
import static dev.gatun.ops.cpu.Lanes.LENGTH;

/**
 * {@link CpuBackend#cast}: fp32 ↔ bf16/fp16 and bf16 ↔ fp16 element by element, bit-exact with {@link HalfFloats}
 * (round to nearest even, NaN kept quiet with its sign and leading payload). fp32 → bf16, the cast of every
 * mixed-precision step, is vectorised; the others go through {@link HalfFloats} one element at a time (fp32 → fp16 uses
 * {@link Float#floatToFloat16}, an intrinsic). Same-dtype casts copy.
 */
final class Casts {
    private static final VectorSpecies<Short> HALF = VectorSpecies.of(short.class,
            VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT;

    private final Parallel parallel;

    Casts(Parallel parallel) {
        this.parallel = parallel;
    }

    void cast(MemorySegment src, DType from, MemorySegment dst, DType to, long n) {
        if (from == to) {
            parallel.forEach(Parallel.Split.of(n, 1), (lo, hi) -> MemorySegment.copy(src, lo * from.byteSize(), dst,
                    lo * to.byteSize(), (hi - lo) * from.byteSize()));
            return;
        }
        Parallel.Range body = switch (from) {
            case FP32 -> to == DType.BF16 ? (lo, hi) -> fp32ToBf16(src, dst, lo, hi)
                    : (lo, hi) -> HalfFloats.fp32ToFp16(src, lo, dst, lo, hi - lo);
            case BF16 -> to == DType.FP32 ? (lo, hi) -> HalfFloats.bf16ToFp32(src, lo, dst, lo, hi - lo)
                    : (lo, hi) -> halfToHalf(src, dst, lo, hi, true);
            case FP16 -> to == DType.FP32 ? (lo, hi) -> HalfFloats.fp16ToFp32(src, lo, dst, lo, hi - lo)
                    : (lo, hi) -> halfToHalf(src, dst, lo, hi, false);
            default -> throw new IllegalArgumentException("cast: no cast from " + from.shortName());
        };
        parallel.forEach(Parallel.Split.of(n, 1), body);
    }

    /** As {@link HalfFloats#floatToBf16Bits}, a vector at a time: add {@code 0x7FFF} plus the lowest kept bit, shift. */
    private static void fp32ToBf16(MemorySegment src, MemorySegment dst, long lo, long hi) {
        long i = lo;
        for (long end = lo + Lanes.bound(hi - lo); i < end; i += LENGTH) {
            IntVector bits = Lanes.load(src, i).reinterpretAsInts();
            VectorMask<Integer> nan = bits.and(0x7FFF_FFFF).compare(VectorOperators.GT, 0x7F80_0000);
            IntVector high = bits.lanewise(VectorOperators.LSHR, 16);
            IntVector rounded = bits.add(0x7FFF).add(high.and(1)).lanewise(VectorOperators.LSHR, 16);
            IntVector result = rounded.blend(high.or(0x0040), nan);
            ShortVector halves = (ShortVector) result.convertShape(VectorOperators.I2S, HALF, 0);
            halves.intoMemorySegment(dst, i * Short.BYTES, ORDER);
        }
        for (; i < hi; i++) {
            dst.setAtIndex(SHORT, i, HalfFloats.floatToBf16Bits(Lanes.get(src, i)));
        }
    }

    /** bf16 → fp16 or back: widening is exact, so this rounds once. */
    private static void halfToHalf(MemorySegment src, MemorySegment dst, long lo, long hi, boolean fromBf16) {
        for (long i = lo; i < hi; i++) {
            short bits = src.getAtIndex(SHORT, i);
            dst.setAtIndex(SHORT, i, fromBf16
                    ? HalfFloats.floatToFp16Bits(HalfFloats.bf16BitsToFloat(bits))
                    : HalfFloats.floatToBf16Bits(HalfFloats.fp16BitsToFloat(bits)));
        }
    }
}
