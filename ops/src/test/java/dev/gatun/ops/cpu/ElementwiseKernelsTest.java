package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.AdamWStep;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static dev.gatun.ops.cpu.Numerics.FP32;
import static dev.gatun.ops.cpu.Numerics.assertClose;
import static dev.gatun.ops.cpu.Numerics.minus;
import static dev.gatun.ops.cpu.Numerics.numericGradient;
import static dev.gatun.ops.cpu.Numerics.random;
import static dev.gatun.ops.cpu.Numerics.times;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The element-wise kernels and the bias forward/backward through {@link CpuBackend}, against float64 references, on
 * sizes below, at and past a vector and past one task (so the pool splits them).
 */
class ElementwiseKernelsTest extends CpuBackendTestBase {
    @ParameterizedTest
    @ValueSource(ints = {1, 12, 37, 50_001})
    void addMatchesReference(int n) {
        long seed = 11 + n;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            double[] a = random(random, n, 2);
            double[] b = random(random, n, 2);
            Tensor out = ts.poisoned("out", n);
            backend.add(ts.fp32("a", a, n), ts.fp32("b", b, n), out);
            double[] ref = new double[n];
            for (int i = 0; i < n; i++) {
                ref[i] = a[i] + b[i];
            }
            assertClose(ts.read(out), ref, FP32, "add, n=" + n + ", seed " + seed);
        }
    }

    @Test
    void addMayWriteIntoEitherInput() {
        long seed = 12;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            double[] a = random(random, 37, 1);
            double[] b = random(random, 37, 1);
            double[] sum = new double[37];
            for (int i = 0; i < 37; i++) {
                sum[i] = (float) (a[i] + b[i]);
            }
            Tensor ta = ts.fp32("a", a, 37);
            backend.add(ta, ts.fp32("b", b, 37), ta);
            assertArrayEquals(sum, ts.read(ta), "out = a, seed " + seed);
            Tensor tb = ts.fp32("b2", b, 37);
            backend.add(ts.fp32("a2", a, 37), tb, tb);
            assertArrayEquals(sum, ts.read(tb), "out = b, seed " + seed);
        }
    }

    @Test
    void scaleMultipliesEveryElement() {
        long seed = 13;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, 2 * 5 * 12, 3);
            Tensor t = ts.fp32("x", x, 2, 5, 12);
            backend.scale(t, -0.3f);
            assertClose(ts.read(t), times(-0.3f, x), FP32, "scale, seed " + seed);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 37, 50_001})
    void geluMatchesReferenceAlsoInPlace(int n) {
        long seed = 14 + n;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, n, 5);
            Tensor out = ts.poisoned("out", n);
            backend.gelu(ts.fp32("in", x, n), out);
            assertClose(ts.read(out), Reference.gelu(x), FP32, "gelu, n=" + n + ", seed " + seed);
            Tensor inPlace = ts.fp32("x", x, n);
            backend.gelu(inPlace, inPlace);
            assertArrayEquals(ts.read(out), ts.read(inPlace), "gelu in place, seed " + seed);
        }
    }

    @Test
    void geluBackwardMatchesFiniteDifferences() {
        long seed = 15;
        Random random = new Random(seed);
        int n = 2 * 5 * 12 + 7;
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, n, 4);
            double[] w = random(random, n, 1);
            Tensor din = ts.poisoned("din", n);
            backend.geluBackward(ts.fp32("in", x, n), ts.fp32("dout", w, n), din);
            double[] numeric = numericGradient(v -> Numerics.dot(Reference.gelu(v), w), x, 1e-5);
            assertClose(ts.read(din), numeric, FP32, "geluBackward, seed " + seed);
        }
    }

    @Test
    void addBiasAddsToEveryRow() {
        long seed = 16;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            for (int[] dims : new int[][]{{2, 5, 12}, {3, 1, 37}, {1, 1, 1}}) {
                int c = dims[2];
                int n = dims[0] * dims[1] * c;
                double[] x = random(random, n, 1);
                double[] bias = random(random, c, 1);
                Tensor out = ts.fp32("out", x, dims[0], dims[1], c);
                backend.addBias(out, ts.fp32("bias", bias, c));
                assertClose(ts.read(out), Reference.addBias(x, bias), FP32, "addBias C=" + c + ", seed " + seed);
            }
        }
    }

    @Test
    void biasBackwardAccumulatesTheFiniteDifferenceGradient() {
        long seed = 17;
        Random random = new Random(seed);
        for (int[] dims : new int[][]{{10, 12}, {1, 37}, {300, 45}}) {
            int rows = dims[0];
            int c = dims[1];
            try (TestTensors ts = new TestTensors()) {
                double[] x = random(random, rows * c, 1);
                double[] w = random(random, rows * c, 1);
                double[] start = random(random, c, 1);
                Tensor dbias = ts.fp32("dbias", start, c);
                Tensor dout = ts.fp32("dout", w, rows, c);
                double[] numeric = numericGradient(b -> Numerics.dot(Reference.addBias(x, b), w), start.clone(),
                        1e-3);
                backend.biasBackward(dout, dbias);
                String what = "biasBackward [" + rows + ", " + c + "], seed " + seed;
                assertClose(minus(ts.read(dbias), start), numeric, FP32, what);
                backend.biasBackward(dout, dbias);
                assertClose(minus(ts.read(dbias), start), times(2, numeric), FP32, what + ", second call");
            }
        }
    }

    @Test
    void adamWMatchesTheFormulaInDouble() {
        long seed = 18;
        Random random = new Random(seed);
        int n = 2 * 37 + 5;
        AdamWStep step = new AdamWStep(0.1f, 0.9f, 0.95f, 1e-8f, 0.1f, 3);
        try (TestTensors ts = new TestTensors()) {
            double[][] state = adamInputs(random, n, 1);
            double[] p = state[0];
            double[] g = state[1];
            double[] m = state[2];
            double[] v = state[3];
            Tensor tp = ts.fp32("param", p, n);
            Tensor tm = ts.fp32("m", m, n);
            Tensor tv = ts.fp32("v", v, n);
            backend.adamW(tp, ts.fp32("grad", g, n), tm, tv, step);
            double[] pRef = new double[n];
            double[] mRef = new double[n];
            double[] vRef = new double[n];
            double b1 = step.beta1();
            double b2 = step.beta2();
            for (int i = 0; i < n; i++) {
                mRef[i] = b1 * m[i] + (1 - b1) * g[i];
                vRef[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                double mHat = mRef[i] / (1 - Math.pow(b1, 3));
                double vHat = vRef[i] / (1 - Math.pow(b2, 3));
                pRef[i] = p[i] - step.learningRate() * (mHat / (Math.sqrt(vHat) + step.eps())
                        + step.weightDecay() * p[i]);
            }
            String what = "adamW, seed " + seed;
            assertClose(ts.read(tm), mRef, FP32, what + ": m");
            assertClose(ts.read(tv), vRef, FP32, what + ": v");
            assertClose(ts.read(tp), pRef, FP32, what + ": param");
            // The update itself, not just the parameter it is small against (lr 0.1 keeps fp32 rounding of p ~1e-6).
            assertClose(minus(ts.read(tp), p), minus(pRef, p), FP32, what + ": update");
        }
    }

    /**
     * Clipping's factor given to the update equals scaling the gradient first, bit for bit (one element and one task
     * past a vector, and past one task so the pool splits it), and leaves the gradient as it was.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 37, 100_003})
    void adamWWithAGradientScaleEqualsScalingTheGradientFirstBitForBit(int n) {
        long seed = 20 + n;
        Random random = new Random(seed);
        AdamWStep step = new AdamWStep(3e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, 7);
        float clip = 1f / 3.7f;
        try (TestTensors ts = new TestTensors()) {
            double[][] state = adamInputs(random, n, 5);
            double[] p = state[0];
            double[] g = state[1];
            double[] m = state[2];
            double[] v = state[3];
            Tensor p1 = ts.fp32("p1", p, n);
            Tensor m1 = ts.fp32("m1", m, n);
            Tensor v1 = ts.fp32("v1", v, n);
            Tensor g1 = ts.fp32("g1", g, n);
            backend.scale(g1, clip);
            backend.adamW(p1, g1, m1, v1, step);
            Tensor p2 = ts.fp32("p2", p, n);
            Tensor m2 = ts.fp32("m2", m, n);
            Tensor v2 = ts.fp32("v2", v, n);
            Tensor g2 = ts.fp32("g2", g, n);
            float[] gradBefore = g2.toFloatArray(ts.stream);
            backend.adamW(p2, g2, clip, m2, v2, step);
            String what = "n " + n + ", seed " + seed;
            assertArrayEquals(p1.toFloatArray(ts.stream), p2.toFloatArray(ts.stream), what + ": param");
            assertArrayEquals(m1.toFloatArray(ts.stream), m2.toFloatArray(ts.stream), what + ": m");
            assertArrayEquals(v1.toFloatArray(ts.stream), v2.toFloatArray(ts.stream), what + ": v");
            assertArrayEquals(gradBefore, g2.toFloatArray(ts.stream), what + ": the gradient is left as it was");
            assertThrows(IllegalArgumentException.class,
                    () -> backend.adamW(p2, g2, Float.NaN, m2, v2, step), "a NaN scale is refused");
        }
    }

    /** Random {param, grad (of scale {@code gradScale}), m, v ≥ 0} of {@code n} elements for an AdamW step. */
    private static double[][] adamInputs(Random random, int n, double gradScale) {
        double[] p = random(random, n, 1);
        double[] g = random(random, n, gradScale);
        double[] m = random(random, n, 0.1);
        double[] v = random(random, n, 0.01);
        for (int i = 0; i < n; i++) {
            v[i] = Math.abs(v[i]);
        }
        return new double[][] {p, g, m, v};
    }

    /** With {@code s = 1} only the check runs: x keeps its bits, and a NaN or an infinity past one task is found. */
    @Test
    void scaleAndCheckFiniteByOneOnlyChecks() {
        long seed = 21;
        Random random = new Random(seed);
        int n = 100_003;
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, n, 100);
            Tensor fine = ts.fp32("fine", x, n);
            float[] before = fine.toFloatArray(ts.stream);
            Tensor flag = ts.zeros("flag", DType.INT32, 1);
            backend.scaleAndCheckFinite(fine, 1f, flag);
            assertArrayEquals(before, fine.toFloatArray(ts.stream), "x unchanged, seed " + seed);
            assertArrayEquals(new int[]{0}, flag.toIntArray(ts.stream), "finite: the flag stays 0");
            for (int position : new int[]{0, 70_001, n - 1}) {
                double[] bad = x.clone();
                bad[position] = position == 0 ? Double.NaN : Double.NEGATIVE_INFINITY;
                Tensor flag1 = ts.zeros("flag1", DType.INT32, 1);
                backend.scaleAndCheckFinite(ts.fp32("bad", bad, n), 1f, flag1);
                assertArrayEquals(new int[]{1}, flag1.toIntArray(ts.stream), "non-finite at " + position);
            }
        }
    }

    @Test
    void scaleAndCheckFiniteSetsTheFlagOnlyForNonFiniteResultsAndNeverResetsIt() {
        long seed = 19;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, 37, 100);
            Tensor flag = ts.zeros("flag", DType.INT32);
            Tensor t = ts.fp32("x", x, 37);
            backend.scaleAndCheckFinite(t, 0.5f, flag);
            assertArrayEquals(times(0.5, x), ts.read(t), "scaled exactly by a power of two, seed " + seed);
            assertArrayEquals(new int[]{0}, flag.toIntArray(ts.stream), "finite results leave the [] flag 0");
            for (int position : new int[]{3, 35}) {
                double[] bad = x.clone();
                bad[position] = position == 3 ? Double.NaN : Double.POSITIVE_INFINITY;
                Tensor flag1 = ts.zeros("flag1", DType.INT32, 1);
                backend.scaleAndCheckFinite(ts.fp32("bad", bad, 37), 2f, flag1);
                assertArrayEquals(new int[]{1}, flag1.toIntArray(ts.stream), "non-finite at " + position);
            }
            Tensor overflow = ts.fp32("big", new double[]{3e38, 1}, 2);
            Tensor flag2 = ts.zeros("flag2", DType.INT32, 1);
            backend.scaleAndCheckFinite(overflow, 10f, flag2);
            assertArrayEquals(new int[]{1}, flag2.toIntArray(ts.stream), "overflow by the scale itself");
            backend.scaleAndCheckFinite(ts.fp32("fine", x, 37), 1f, flag2);
            assertArrayEquals(new int[]{1}, flag2.toIntArray(ts.stream), "a later finite tensor keeps the flag");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 37, 100_003})
    void sumOfSquaresAddsIntoTheScalar(int n) {
        long seed = 20 + n;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, n, 1);
            double ref = 2.5;
            for (double v : x) {
                ref += v * v;
            }
            Tensor out = ts.fp32("out", new double[]{2.5}, 1);
            backend.sumOfSquares(ts.fp32("x", x, n), out);
            assertClose(ts.read(out), new double[]{ref}, FP32, "sumOfSquares n=" + n + ", seed " + seed);
            Tensor scalar = ts.zeros("scalar", DType.FP32);
            backend.sumOfSquares(ts.fp32("x2", x, n), scalar);
            assertClose(ts.read(scalar), new double[]{ref - 2.5}, FP32, "into a [] scalar");
        }
    }
}
