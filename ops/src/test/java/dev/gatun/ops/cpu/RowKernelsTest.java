package dev.gatun.ops.cpu;

import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.gatun.ops.cpu.Numerics.FP32;
import static dev.gatun.ops.cpu.Numerics.assertClose;
import static dev.gatun.ops.cpu.Numerics.minus;
import static dev.gatun.ops.cpu.Numerics.numericGradient;
import static dev.gatun.ops.cpu.Numerics.random;
import static dev.gatun.ops.cpu.Numerics.randomInts;
import static dev.gatun.ops.cpu.Numerics.times;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * LayerNorm, softmax and the fused cross-entropy through {@link CpuBackend}: forwards against float64 references,
 * backwards against central finite differences of those references, rows shorter than a vector, with tails, and past
 * the 1024-element blocks the row sums flush at.
 */
class RowKernelsTest extends CpuBackendTestBase {
    private static final float EPS = 1e-5f;
    @ParameterizedTest
    @CsvSource({"2, 5, 12", "1, 3, 37", "2, 1, 1100", "1, 1, 1"})
    void layerNormMatchesReference(int b, int t, int c) {
        long seed = 41L * c + t;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, b * t * c, 3);
            for (int i = 0; i < x.length; i++) {
                x[i] += 1.5; // an offset, so that the mean matters
            }
            double[] w = random(random, c, 1);
            double[] bias = random(random, c, 1);
            Tensor out = ts.poisoned("out", b, t, c);
            Tensor mean = ts.poisoned("mean", b, t);
            Tensor rstd = ts.poisoned("rstd", (long) b * t);
            backend.layerNorm(ts.fp32("in", x, b, t, c), ts.fp32("w", w, c), ts.fp32("b", bias, c), EPS, out, mean,
                    rstd);
            double[][] ref = Reference.layerNorm(x, w, bias, EPS, c);
            String what = "layerNorm [" + b + ", " + t + ", " + c + "], seed " + seed;
            assertClose(ts.read(out), ref[0], FP32, what + ": out");
            assertClose(ts.read(mean), ref[1], FP32, what + ": mean");
            assertClose(ts.read(rstd), ref[2], FP32, what + ": rstd");
        }
    }

    @ParameterizedTest
    @CsvSource({"2, 5, 12", "1, 3, 37", "1, 2, 1100"})
    void layerNormBackwardMatchesFiniteDifferencesAndAccumulates(int b, int t, int c) {
        long seed = 43L * c + t;
        Random random = new Random(seed);
        int n = b * t * c;
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, n, 2);
            double[] w = random(random, c, 1);
            double[] bias = random(random, c, 1);
            double[] weights = random(random, n, 1);
            Tensor in = ts.fp32("in", x, b, t, c);
            Tensor weight = ts.fp32("w", w, c);
            Tensor mean = ts.poisoned("mean", (long) b * t);
            Tensor rstd = ts.poisoned("rstd", (long) b * t);
            backend.layerNorm(in, weight, ts.fp32("b", bias, c), EPS, ts.poisoned("out", b, t, c), mean, rstd);
            double[] dwStart = random(random, c, 1);
            double[] dbStart = random(random, c, 1);
            Tensor din = ts.poisoned("din", b, t, c);
            Tensor dweight = ts.fp32("dw", dwStart, c);
            Tensor dbias = ts.fp32("db", dbStart, c);
            Tensor dout = ts.fp32("dout", weights, b, t, c);

            double[] dx = numericGradient(v -> Numerics.dot(Reference.layerNorm(v, w, bias, EPS, c)[0], weights),
                    x.clone(), 1e-4);
            double[] dw = numericGradient(v -> Numerics.dot(Reference.layerNorm(x, v, bias, EPS, c)[0], weights),
                    w.clone(), 1e-4);
            double[] db = numericGradient(v -> Numerics.dot(Reference.layerNorm(x, w, v, EPS, c)[0], weights),
                    bias.clone(), 1e-4);
            String what = "layerNormBackward [" + b + ", " + t + ", " + c + "], seed " + seed;
            for (int call = 1; call <= 2; call++) {
                ts.poison(din);
                backend.layerNormBackward(dout, in, weight, mean, rstd, din, dweight, dbias);
                assertClose(ts.read(din), dx, FP32, what + ": din, call " + call);
                assertClose(minus(ts.read(dweight), dwStart), times(call, dw), FP32, what + ": dweight, call " + call);
                assertClose(minus(ts.read(dbias), dbStart), times(call, db), FP32, what + ": dbias, call " + call);
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"10, 12", "3, 37", "2, 1100", "4, 1"})
    void softmaxMatchesReference(int rows, int columns) {
        long seed = 47L * columns + rows;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, rows * columns, 8);
            Tensor out = ts.poisoned("out", rows, columns);
            backend.softmax(ts.fp32("in", x, rows, columns), out);
            assertClose(ts.read(out), Reference.softmax(x, columns), FP32,
                    "softmax [" + rows + ", " + columns + "], seed " + seed);
        }
    }

    @ParameterizedTest
    @CsvSource({"2, 5, 37", "1, 3, 1100", "1, 1, 1"})
    void crossEntropyLossesMatchReferenceAndDlogitsFiniteDifferences(int b, int t, int v) {
        long seed = 53L * v + t;
        Random random = new Random(seed);
        int n = b * t;
        float scale = 0.37f;
        try (TestTensors ts = new TestTensors()) {
            double[] logits = random(random, n * v, 6);
            int[] targets = randomInts(random, n, v);
            Tensor losses = ts.poisoned("losses", b, t);
            Tensor dlogits = ts.poisoned("dlogits", b, t, v);
            Tensor tLogits = ts.fp32("logits", logits, b, t, v);
            Tensor tTargets = ts.ints("targets", targets, b, t);
            backend.crossEntropy(tLogits, tTargets, scale, losses, dlogits);
            String what = "crossEntropy [" + b + ", " + t + ", " + v + "], seed " + seed;
            assertClose(ts.read(losses), Reference.crossEntropy(logits, targets, v), FP32, what + ": losses");
            double[] numeric = numericGradient(x -> scale * sum(Reference.crossEntropy(x, targets, v)), logits.clone(),
                    1e-4);
            assertClose(ts.read(dlogits), numeric, FP32, what + ": dlogits");

            // dlogits may be logits itself: the same results, computed in place.
            Tensor losses2 = ts.poisoned("losses2", (long) n);
            backend.crossEntropy(tLogits, ts.ints("targets2", targets, n), scale, losses2, tLogits);
            assertArrayEquals(ts.read(losses), ts.read(losses2), what + ": in-place losses");
            assertArrayEquals(ts.read(dlogits), ts.read(tLogits), what + ": in-place dlogits");
        }
    }

    @Test
    void crossEntropyNamesTheFirstTargetOutsideTheVocabulary() {
        try (TestTensors ts = new TestTensors()) {
            double[] logits = random(new Random(59), 4 * 37, 1);
            Tensor targets = ts.ints("targets", new int[]{0, 36, 37, -1}, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.crossEntropy(
                    ts.fp32("logits", logits, 4, 37), targets, 1f, ts.poisoned("losses", 4),
                    ts.poisoned("dlogits", 4, 37)));
            assertEquals("crossEntropy: target 37 at position [2] is outside [0, 37)", e.getMessage());
        }
    }

    private static double sum(double[] x) {
        double s = 0;
        for (double v : x) {
            s += v;
        }
        return s;
    }
}
