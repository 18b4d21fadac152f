package dev.gatun.memory;

/**
 * A slow, arithmetic model of a small binary floating-point format (sign, {@code exponentBits}, {@code mantissaBits},
 * IEEE layout with subnormals, infinities and NaNs), written from the IEEE 754 definitions with double arithmetic
 * and no bit tricks on the value, to check {@link HalfFloats} against.
 *
 * <p>Every step is exact in double: the inputs are floats (24-bit significands), scaling by powers of two is exact,
 * and the quotient {@code |v| / ulp} has at most 24 significant bits.
 */
record ReferenceFloatFormat(int exponentBits, int mantissaBits) {
    static final ReferenceFloatFormat BF16 = new ReferenceFloatFormat(8, 7);
    static final ReferenceFloatFormat FP16 = new ReferenceFloatFormat(5, 10);

    int bias() {
        return (1 << (exponentBits - 1)) - 1;
    }

    int minExponent() {
        return 1 - bias();
    }

    int maxExponent() {
        return bias();
    }

    int infinityBits() {
        return ((1 << exponentBits) - 1) << mantissaBits;
    }

    int signBit() {
        return 1 << (exponentBits + mantissaBits);
    }

    int maxFiniteBits() {
        return infinityBits() - 1;
    }

    boolean isNaN(int bits) {
        return (bits & (signBit() - 1)) > infinityBits();
    }

    /** The value of a bit pattern: (-1)^s 2^(e-bias) (1 + m/2^p), or (-1)^s 2^(1-bias) m/2^p for e == 0. */
    double decode(int bits) {
        boolean negative = (bits & signBit()) != 0;
        int exponentField = (bits >>> mantissaBits) & ((1 << exponentBits) - 1);
        int mantissa = bits & ((1 << mantissaBits) - 1);
        double magnitude;
        if (exponentField == (1 << exponentBits) - 1) {
            magnitude = mantissa == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        } else if (exponentField == 0) {
            magnitude = mantissa * Math.scalb(1.0, minExponent() - mantissaBits);
        } else {
            magnitude = (1 + mantissa / Math.scalb(1.0, mantissaBits)) * Math.scalb(1.0, exponentField - bias());
        }
        return negative ? -magnitude : magnitude;
    }

    /** The next larger magnitude after a finite non-negative pattern; 2^(emax+1) after the largest finite one. */
    double nextMagnitude(int bits) {
        return bits == maxFiniteBits() ? Math.scalb(1.0, maxExponent() + 1) : decode(bits + 1);
    }

    /** The bit pattern nearest to a non-NaN value, ties to the even mantissa, overflowing to infinity as IEEE does. */
    int encode(double value) {
        if (Double.isNaN(value)) {
            throw new IllegalArgumentException("the reference does not encode NaN");
        }
        int sign = Double.doubleToRawLongBits(value) < 0 ? signBit() : 0;
        double magnitude = Math.abs(value);
        if (magnitude == 0) {
            return sign;
        }
        if (magnitude >= Math.scalb(1.0, maxExponent() + 1)) {
            return sign | infinityBits();
        }
        int exponent = Math.max(Math.getExponent(magnitude), minExponent());
        double ulp = Math.scalb(1.0, exponent - mantissaBits);
        double scaled = magnitude / ulp;
        long units = (long) Math.floor(scaled);
        double remainder = scaled - units;
        if (remainder > 0.5 || (remainder == 0.5 && units % 2 == 1)) {
            units++;
        }
        if (units == 2L << mantissaBits) {
            units = 1L << mantissaBits;
            exponent++;
        }
        if (exponent > maxExponent()) {
            return sign | infinityBits();
        }
        if (units < 1L << mantissaBits) {
            return sign | (int) units; // subnormal (or zero) at the minimum exponent
        }
        int exponentField = exponent + bias();
        return sign | (exponentField << mantissaBits) | (int) (units - (1L << mantissaBits));
    }
}
