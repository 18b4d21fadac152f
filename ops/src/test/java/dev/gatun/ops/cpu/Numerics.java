package dev.gatun.ops.cpu;

import java.util.Random;
import java.util.function.ToDoubleFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Random inputs, relative errors and central finite differences, all in double, for the kernel tests. */
final class Numerics {
    /** fp32 tolerance of ‖out − ref‖/‖ref‖. */
    static final double FP32 = 1e-5;

    private Numerics() {
    }

    /** {@code n} values uniform in {@code (−scale, scale)}, each exactly a float. */
    static double[] random(Random random, int n, double scale) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) ((2 * random.nextDouble() - 1) * scale);
        }
        return x;
    }

    /** {@code n} ints in {@code [0, bound)}. */
    static int[] randomInts(Random random, int n, int bound) {
        int[] x = new int[n];
        for (int i = 0; i < n; i++) {
            x[i] = random.nextInt(bound);
        }
        return x;
    }

    static float[] toFloats(double[] values) {
        float[] f = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            f[i] = (float) values[i];
        }
        return f;
    }

    /** {@code ‖out − ref‖ / ‖ref‖} (the absolute norm when {@code ref} is 0); NaN anywhere in {@code out} gives NaN. */
    static double relativeError(double[] out, double[] ref) {
        assertEquals(ref.length, out.length, "lengths");
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < ref.length; i++) {
            diff += (out[i] - ref[i]) * (out[i] - ref[i]);
            norm += ref[i] * ref[i];
        }
        return norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
    }

    /** Asserts {@code relativeError(out, ref) <= tolerance}, naming {@code what} (and the seed) on failure. */
    static void assertClose(double[] out, double[] ref, double tolerance, String what) {
        double error = relativeError(out, ref);
        assertTrue(error <= tolerance, what + ": relative error " + error + " > " + tolerance + firstBad(out, ref));
    }

    private static String firstBad(double[] out, double[] ref) {
        for (int i = 0; i < ref.length; i++) {
            if (!(Math.abs(out[i] - ref[i]) <= 1e-4 * (1 + Math.abs(ref[i])))) {
                return " (first far element " + i + ": got " + out[i] + ", expected " + ref[i] + ")";
            }
        }
        return "";
    }

    /** {@code Σ out·w}: the scalar loss whose gradient with respect to {@code out} is {@code w}. */
    static double dot(double[] out, double[] w) {
        double s = 0;
        for (int i = 0; i < out.length; i++) {
            s += out[i] * w[i];
        }
        return s;
    }

    /** The central-difference gradient of {@code loss} at {@code x} (which it restores), step {@code h}. */
    static double[] numericGradient(ToDoubleFunction<double[]> loss, double[] x, double h) {
        double[] grad = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double saved = x[i];
            x[i] = saved + h;
            double up = loss.applyAsDouble(x);
            x[i] = saved - h;
            double down = loss.applyAsDouble(x);
            x[i] = saved;
            grad[i] = (up - down) / (2 * h);
        }
        return grad;
    }

    /** {@code a − b} element-wise. */
    static double[] minus(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }

    /** {@code s·a}. */
    static double[] times(double s, double[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = s * a[i];
        }
        return d;
    }
}
