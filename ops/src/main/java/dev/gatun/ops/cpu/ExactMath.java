package dev.gatun.ops.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

import static dev.gatun.ops.cpu.Lanes.F;

/**
 * {@code exp} and {@code tanh} in fp32 from IEEE operations only (add, multiply, fused multiply-add, divide, bit
 * moves), identical in their vector and scalar forms. The Vector API's {@code EXP}/{@code TANH} and {@code Math.exp}/
 * {@code Math.tanh} may give results that differ in the last bit between the interpreter, the JIT's intrinsics and
 * machines; these do not, so the CPU backend computes the same bits in every run (what a bit-exact resume needs).
 *
 * <p>{@code exp(x)}: {@code n = round(x·log₂e)}, {@code r = x − n·ln 2} (ln 2 split in two for accuracy),
 * {@code e^r} by its degree-7 Taylor polynomial (|r| ≤ ln 2/2: error below 1 ulp), times {@code 2ⁿ} built in the
 * exponent bits; {@code x < −87} gives 0 and {@code x > 88} gives {@code +∞}. {@code tanh(y)}: the odd series
 * {@code y − y³/3 + 2y⁵/15 − 17y⁷/315 + 62y⁹/2835} for {@code |y| < 0.125}, otherwise
 * {@code sign(y)·(1 − e)/(1 + e)} with {@code e = exp(−2|y|)}.
 */
final class ExactMath {
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693145751953125f;
    private static final float LN2_LO = 1.428606765330187045e-06f;
    /** 1.5·2²³: adding it rounds to an integer held in the low mantissa bits. */
    private static final float ROUND = 12582912f;
    private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);
    private static final float LOW = -87f;
    private static final float HIGH = 88f;
    private static final float[] TAYLOR = {1f / 5040, 1f / 720, 1f / 120, 1f / 24, 1f / 6, 0.5f, 1f, 1f};
    private static final float SMALL = 0.125f;
    private static final float[] TANH_SERIES = {62f / 2835, -17f / 315, 2f / 15, -1f / 3, 1f};

    private ExactMath() {
    }

    static float exp(float x) {
        if (x < LOW) {
            return 0f;
        }
        if (x > HIGH) {
            return Float.POSITIVE_INFINITY;
        }
        float t = Math.fma(x, LOG2E, ROUND);
        float n = t - ROUND;
        float r = Math.fma(n, -LN2_LO, Math.fma(n, -LN2_HI, x));
        float p = TAYLOR[0];
        for (int k = 1; k < TAYLOR.length; k++) {
            p = Math.fma(p, r, TAYLOR[k]);
        }
        int e = Float.floatToRawIntBits(t) - ROUND_BITS;
        return p * Float.intBitsToFloat((e + 127) << 23);
    }

    static FloatVector exp(FloatVector x) {
        VectorMask<Float> low = x.lt(LOW);
        VectorMask<Float> high = x.compare(VectorOperators.GT, HIGH);
        FloatVector xc = x.max(LOW).min(HIGH);
        FloatVector t = xc.fma(LOG2E, ROUND);
        FloatVector n = t.sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_LO), n.fma(FloatVector.broadcast(F, -LN2_HI), xc));
        FloatVector p = FloatVector.broadcast(F, TAYLOR[0]);
        for (int k = 1; k < TAYLOR.length; k++) {
            p = p.fma(r, FloatVector.broadcast(F, TAYLOR[k]));
        }
        IntVector e = (IntVector) t.reinterpretAsInts().sub(ROUND_BITS);
        FloatVector scale = e.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(scale).blend(0f, low).blend(Float.POSITIVE_INFINITY, high);
    }

    static float tanh(float y) {
        float a = Math.abs(y);
        if (a < SMALL) {
            float y2 = y * y;
            float s = TANH_SERIES[0];
            for (int k = 1; k < TANH_SERIES.length; k++) {
                s = Math.fma(s, y2, TANH_SERIES[k]);
            }
            return s * y;
        }
        float e = exp(-2 * a);
        return Math.copySign((1 - e) / (1 + e), y);
    }

    static FloatVector tanh(FloatVector y) {
        FloatVector a = y.abs();
        FloatVector y2 = y.mul(y);
        FloatVector s = FloatVector.broadcast(F, TANH_SERIES[0]);
        for (int k = 1; k < TANH_SERIES.length; k++) {
            s = s.fma(y2, FloatVector.broadcast(F, TANH_SERIES[k]));
        }
        FloatVector series = s.mul(y);
        FloatVector e = exp(a.mul(-2f));
        FloatVector magnitude = FloatVector.broadcast(F, 1f).sub(e).div(e.add(1f));
        FloatVector big = magnitude.blend(magnitude.neg(), y.lt(0f));
        return big.blend(series, a.lt(SMALL));
    }
}
