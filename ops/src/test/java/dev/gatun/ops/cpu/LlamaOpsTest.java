package dev.gatun.ops.cpu;

import dev.gatun.memory.Tensor;
import dev.gatun.ops.RotaryFrequencies;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.gatun.ops.cpu.Numerics.FP32;
import static dev.gatun.ops.cpu.Numerics.assertClose;
import static dev.gatun.ops.cpu.Numerics.minus;
import static dev.gatun.ops.cpu.Numerics.numericGradient;
import static dev.gatun.ops.cpu.Numerics.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Llama block's ops through {@link CpuBackend}: RMSNorm, the rotary embedding (with Llama 3's frequency
 * scaling), SwiGLU and grouped-query attention; forwards against float64 references, backwards against central
 * finite differences of those references, with vector tails and, for RMSNorm, rows past the row sums' blocks.
 */
class LlamaOpsTest extends CpuBackendTestBase {
    private static final float EPS = 1e-5f;

    /** {out [N, C], rstd [N]} of RMSNorm in float64. */
    static double[][] rmsNorm(double[] x, double[] w, double eps, int c) {
        int n = x.length / c;
        double[] out = new double[x.length];
        double[] rstd = new double[n];
        for (int r = 0; r < n; r++) {
            double ss = 0;
            for (int j = 0; j < c; j++) {
                ss += x[r * c + j] * x[r * c + j];
            }
            rstd[r] = 1 / Math.sqrt(ss / c + eps);
            for (int j = 0; j < c; j++) {
                out[r * c + j] = x[r * c + j] * rstd[r] * w[j];
            }
        }
        return new double[][] {out, rstd};
    }

    @ParameterizedTest
    @CsvSource({"2, 5, 12", "1, 3, 37", "2, 1, 1100", "1, 1, 1"})
    void rmsNormMatchesReference(int b, int t, int c) {
        Random random = new Random(7L * c + t);
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, b * t * c, 3);
            double[] w = random(random, c, 1);
            Tensor out = ts.poisoned("out", b, t, c);
            Tensor rstd = ts.poisoned("rstd", b, t);
            backend.rmsNorm(ts.fp32("in", x, b, t, c), ts.fp32("w", w, c), EPS, out, rstd);
            double[][] ref = rmsNorm(x, w, EPS, c);
            assertClose(ts.read(out), ref[0], FP32, "rmsNorm out [" + b + ", " + t + ", " + c + "]");
            assertClose(ts.read(rstd), ref[1], FP32, "rmsNorm rstd");
        }
    }

    @ParameterizedTest
    @CsvSource({"2, 5, 12", "1, 3, 37", "1, 2, 1100"})
    void rmsNormBackwardMatchesFiniteDifferencesAndAccumulates(int b, int t, int c) {
        Random random = new Random(11L * c + t);
        int n = b * t * c;
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, n, 2);
            double[] w = random(random, c, 1);
            double[] weights = random(random, n, 1);
            Tensor in = ts.fp32("in", x, b, t, c);
            Tensor weight = ts.fp32("w", w, c);
            Tensor rstd = ts.poisoned("rstd", (long) b * t);
            backend.rmsNorm(in, weight, EPS, ts.poisoned("out", b, t, c), rstd);
            double[] dwStart = random(random, c, 1);
            Tensor din = ts.poisoned("din", b, t, c);
            Tensor dweight = ts.fp32("dw", dwStart, c);
            backend.rmsNormBackward(ts.fp32("dout", weights, b, t, c), in, weight, rstd, din, dweight);
            double[] dx = numericGradient(v -> Numerics.dot(rmsNorm(v, w, EPS, c)[0], weights), x.clone(), 1e-4);
            double[] dw = numericGradient(v -> Numerics.dot(rmsNorm(x, v, EPS, c)[0], weights), w.clone(), 1e-4);
            assertClose(ts.read(din), dx, 1e-4, "rmsNormBackward din");
            assertClose(minus(ts.read(dweight), dwStart), dw, 1e-4, "rmsNormBackward dweight (accumulated)");
        }
    }

    /** The rotary embedding in float64: pairs (2i, 2i+1) of the first {@code heads} heads turned by sign·t·ω. */
    static double[] rotary(double[] x, int b, int t, int w, int heads, int hs, double[] omega, double sign) {
        double[] out = x.clone();
        for (int r = 0; r < b * t; r++) {
            int position = r % t;
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < hs / 2; i++) {
                    int at = r * w + h * hs + 2 * i;
                    double angle = sign * position * omega[i];
                    double x0 = x[at];
                    double x1 = x[at + 1];
                    out[at] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
                    out[at + 1] = x0 * Math.sin(angle) + x1 * Math.cos(angle);
                }
            }
        }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"2, 5, 3, 8, 40", "1, 7, 2, 6, 18", "1, 3, 1, 2, 2"})
    void rotaryMatchesReferenceInPlaceOrNotAndItsInverseIsItsBackward(int b, int t, int heads, int hs, int w) {
        Random random = new Random(13L * w + t);
        var freqs = new RotaryFrequencies(hs, 500_000, new RotaryFrequencies.Llama3Scaling(32, 1, 4, 8));
        double[] omega = freqs.omegas();
        try (TestTensors ts = new TestTensors()) {
            double[] x = random(random, b * t * w, 2);
            Tensor cos = ts.fp32("cos", toDoubles(freqs.cosTable(t + 3)), t + 3, hs / 2);
            Tensor sin = ts.fp32("sin", toDoubles(freqs.sinTable(t + 3)), t + 3, hs / 2);
            Tensor out = ts.poisoned("out", b, t, w);
            backend.rotary(ts.fp32("x", x, b, t, w), heads, cos, sin, false, out);
            double[] ref = rotary(x, b, t, w, heads, hs, omega, 1);
            assertClose(ts.read(out), ref, FP32, "rotary");
            Tensor inPlace = ts.fp32("x", x, b, t, w);
            backend.rotary(inPlace, heads, cos, sin, false, inPlace);
            assertArrayEquals(ts.read(out), ts.read(inPlace), "in place, the same values");
            // backward: the gradient of <rotary(x), g> is rotary⁻¹(g)
            double[] g = random(random, b * t * w, 1);
            Tensor dx = ts.poisoned("dx", b, t, w);
            backend.rotary(ts.fp32("g", g, b, t, w), heads, cos, sin, true, dx);
            double[] numeric = numericGradient(v -> Numerics.dot(rotary(v, b, t, w, heads, hs, omega, 1), g),
                    x.clone(), 1e-5);
            assertClose(ts.read(dx), numeric, 1e-5, "rotary inverse = its backward");
        }
    }

    @Test
    void llama3ScalingKeepsHighFrequenciesAndDividesLowOnesAsHuggingFaceDoes() {
        var scaling = new RotaryFrequencies.Llama3Scaling(8, 1, 4, 8192);
        // wavelength 2π/ω: below 8192/4 = 2048 kept, above 8192 divided by 8, between blended
        assertEquals(1.0, scaling.apply(1.0), 0);
        double low = 2 * Math.PI / 10_000;
        assertEquals(low / 8, scaling.apply(low), 1e-18);
        double mid = 2 * Math.PI / 4096; // λ = 4096: s = (8192/4096 − 1)/(4 − 1) = 1/3
        assertEquals((1 - 1.0 / 3) * mid / 8 + mid / 3, scaling.apply(mid), 1e-15);
        double[] omega = new RotaryFrequencies(64, 500_000, null).omegas();
        assertEquals(1.0, omega[0], 0);
        assertEquals(Math.pow(500_000, -62.0 / 64), omega[31], 1e-18);
        var e = assertThrows(IllegalArgumentException.class, () -> new RotaryFrequencies(7, 10_000, null));
        assertEquals("the rotary embedding needs an even head size >= 2, got 7", e.getMessage());
    }

    static double silu(double g) {
        return g / (1 + Math.exp(-g));
    }

    static double[] swiglu(double[] gateUp, int f) {
        int n = gateUp.length / (2 * f);
        double[] out = new double[n * f];
        for (int r = 0; r < n; r++) {
            for (int j = 0; j < f; j++) {
                out[r * f + j] = silu(gateUp[r * 2 * f + j]) * gateUp[r * 2 * f + f + j];
            }
        }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"3, 5, 12", "1, 2, 37", "2, 1, 1"})
    void swigluMatchesReferenceAndFiniteDifferences(int b, int t, int f) {
        Random random = new Random(17L * f + t);
        int n = b * t;
        try (TestTensors ts = new TestTensors()) {
            double[] gateUp = random(random, n * 2 * f, 4);
            Tensor in = ts.fp32("gateUp", gateUp, b, t, 2L * f);
            Tensor out = ts.poisoned("out", b, t, f);
            backend.swiglu(in, out);
            assertClose(ts.read(out), swiglu(gateUp, f), FP32, "swiglu");
            double[] weights = random(random, n * f, 1);
            Tensor d = ts.poisoned("dgateUp", b, t, 2L * f);
            backend.swigluBackward(in, ts.fp32("dout", weights, b, t, f), d);
            double[] numeric = numericGradient(v -> Numerics.dot(swiglu(v, f), weights), gateUp.clone(), 1e-4);
            assertClose(ts.read(d), numeric, 1e-4, "swigluBackward");
        }
    }

    /** qkv [B, T, (NH + 2·NKV)·hs] expanded to multi-head [B, T, 3·NH·hs], each query head with its kv head. */
    static double[] expand(double[] qkv, int b, int t, int nh, int nkv, int hs) {
        int w = (nh + 2 * nkv) * hs;
        int c = nh * hs;
        int g = nh / nkv;
        double[] out = new double[b * t * 3 * c];
        for (int r = 0; r < b * t; r++) {
            for (int h = 0; h < nh; h++) {
                for (int d = 0; d < hs; d++) {
                    out[r * 3 * c + h * hs + d] = qkv[r * w + h * hs + d];
                    out[r * 3 * c + c + h * hs + d] = qkv[r * w + c + (h / g) * hs + d];
                    out[r * 3 * c + 2 * c + h * hs + d] = qkv[r * w + c + nkv * hs + (h / g) * hs + d];
                }
            }
        }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"2, 5, 4, 2, 4", "1, 6, 4, 1, 8", "2, 3, 6, 3, 2", "1, 4, 2, 2, 4"})
    void groupedQueryAttentionMatchesReferenceAndFiniteDifferences(int b, int t, int nh, int nkv, int hs) {
        Random random = new Random(19L * nh + nkv + t);
        int w = (nh + 2 * nkv) * hs;
        int c = nh * hs;
        try (TestTensors ts = new TestTensors()) {
            double[] qkv = random(random, b * t * w, 1);
            Tensor tQkv = ts.fp32("qkv", qkv, b, t, w);
            Tensor out = ts.poisoned("out", b, t, c);
            Tensor att = ts.poisoned("att", b, nh, t, t);
            backend.attention(tQkv, nh, nkv, out, att);
            double[][] ref = Reference.attention(expand(qkv, b, t, nh, nkv, hs), b, t, c, nh);
            String what = "GQA B=" + b + " T=" + t + " NH=" + nh + " NKV=" + nkv + " hs=" + hs;
            assertClose(ts.read(out), ref[0], FP32, what + ": out");
            assertClose(ts.read(att), ref[1], FP32, what + ": att");
            double[] weights = random(random, b * t * c, 1);
            Tensor dqkv = ts.poisoned("dqkv", b, t, w);
            backend.attentionBackward(ts.fp32("dout", weights, b, t, c), tQkv, att, nh, nkv, dqkv);
            double[] numeric = numericGradient(x -> Numerics.dot(Reference.attention(expand(x, b, t, nh, nkv, hs), b,
                    t, c, nh)[0], weights), qkv.clone(), 1e-5);
            assertClose(ts.read(dqkv), numeric, FP32, what + ": dqkv");
        }
    }

    @Test
    void multiHeadIsTheGroupOfOne() {
        Random random = new Random(23);
        int b = 2, t = 4, nh = 2, hs = 4, c = nh * hs;
        try (TestTensors ts = new TestTensors()) {
            Tensor qkv = ts.fp32("qkv", random(random, b * t * 3 * c, 1), b, t, 3L * c);
            Tensor out1 = ts.poisoned("out", b, t, c);
            Tensor out2 = ts.poisoned("out", b, t, c);
            backend.attention(qkv, nh, out1, ts.poisoned("att", b, nh, t, t));
            backend.attention(qkv, nh, nh, out2, ts.poisoned("att", b, nh, t, t));
            assertArrayEquals(ts.read(out1), ts.read(out2));
        }
    }

    @Test
    void badShapesAreRefusedByName() {
        try (TestTensors ts = new TestTensors()) {
            var e = assertThrows(IllegalArgumentException.class, () -> backend.attention(ts.zeros("qkv",
                    dev.gatun.memory.DType.FP32, 1, 2, 16), 4, 3, ts.poisoned("out", 1, 2, 8),
                    ts.poisoned("att", 1, 4, 2, 2)));
            assertTrue(e.getMessage().contains("numKvHeads=3 must be > 0 and divide numHeads=4"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> backend.swiglu(ts.poisoned("gu", 2, 5),
                    ts.poisoned("out", 2, 2)));
            assertTrue(e.getMessage().contains("must be fp32 [N, 2F]"), e.getMessage());
            var cos = ts.poisoned("cos", 2, 2);
            e = assertThrows(IllegalArgumentException.class, () -> backend.rotary(ts.poisoned("x", 1, 3, 8), 2, cos,
                    ts.poisoned("sin", 2, 2), false, ts.poisoned("out", 1, 3, 8)));
            assertTrue(e.getMessage().contains("has 3 positions, more than the 2 of the tables"), e.getMessage());
        }
    }

    private static double[] toDoubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
