package dev.gatun.zero;

import dev.gatun.memory.Shape;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A two-layer linear network {@code y = W2·(W1·x + b1) + b2} with loss {@code L = mean_n ½‖y_n − t_n‖²}, gradients by
 * hand in float64, and a float64 AdamW on the full batch as the single-device reference.
 */
final class TinyMlp {
    static final int IN = 5;
    static final int HIDDEN = 4;
    static final int OUT = 3;
    static final int BATCH = 8;

    static Map<String, Shape> shapes() {
        Map<String, Shape> s = new LinkedHashMap<>();
        s.put("w1", Shape.of(HIDDEN, IN));
        s.put("b1", Shape.of(HIDDEN));
        s.put("w2", Shape.of(OUT, HIDDEN));
        s.put("b2", Shape.of(OUT));
        return s;
    }

    /** Two units, one per layer: {@code layer1} (w1, b1: 24 elements), {@code layer2} (w2, b2: 15). */
    static FlatLayout layout(int dp) {
        Map<String, Shape> shapes = shapes();
        Map<String, Map<String, Shape>> units = new LinkedHashMap<>();
        units.put("layer1", new LinkedHashMap<>(Map.of("w1", shapes.get("w1"))));
        units.get("layer1").put("b1", shapes.get("b1"));
        units.put("layer2", new LinkedHashMap<>(Map.of("w2", shapes.get("w2"))));
        units.get("layer2").put("b2", shapes.get("b2"));
        return FlatLayout.ofUnits(units, dp);
    }

    /** Ψ = 39; layer2 has 15 elements, so dp = 2 and 4 need padding. */
    static long psi() {
        return shapes().values().stream().mapToLong(Shape::numel).sum();
    }

    /** Parameter {@code name}'s initial values, from (seed, name, index). */
    static float[] init(long seed, String name, long numel) {
        float[] out = new float[(int) numel];
        for (int i = 0; i < out.length; i++) {
            long h = seed * 0x9E3779B97F4A7C15L ^ name.hashCode() * 0xBF58476D1CE4E5B9L ^ i * 0x94D049BB133111EBL;
            out[i] = (float) (new Random(h).nextDouble() - 0.5);
        }
        return out;
    }

    /** Batch {@code step}: inputs {@code x[BATCH][IN]} and targets {@code t[BATCH][OUT]}, fresh per step. */
    static double[][][] batch(int step) {
        Random r = new Random(1234 + step);
        double[][] x = new double[BATCH][IN];
        double[][] t = new double[BATCH][OUT];
        for (int n = 0; n < BATCH; n++) {
            for (int i = 0; i < IN; i++) {
                x[n][i] = r.nextGaussian();
            }
            for (int o = 0; o < OUT; o++) {
                t[n][o] = r.nextGaussian();
            }
        }
        return new double[][][]{x, t};
    }

    /**
     * Gradients of {@code scale · mean_{n ∈ [from, to)} ½‖y_n − t_n‖²}, keyed like {@link #shapes()}; {@code p} holds
     * the parameters by name.
     */
    static Map<String, double[]> gradients(Map<String, double[]> p, double[][] x, double[][] t, int from, int to,
                                           double scale) {
        double[] w1 = p.get("w1"), b1 = p.get("b1"), w2 = p.get("w2"), b2 = p.get("b2");
        double[] gw1 = new double[w1.length], gb1 = new double[b1.length];
        double[] gw2 = new double[w2.length], gb2 = new double[b2.length];
        double k = scale / (to - from);
        for (int n = from; n < to; n++) {
            double[] h = new double[HIDDEN];
            for (int j = 0; j < HIDDEN; j++) {
                h[j] = b1[j];
                for (int i = 0; i < IN; i++) {
                    h[j] += w1[j * IN + i] * x[n][i];
                }
            }
            double[] dy = new double[OUT];
            for (int o = 0; o < OUT; o++) {
                double y = b2[o];
                for (int j = 0; j < HIDDEN; j++) {
                    y += w2[o * HIDDEN + j] * h[j];
                }
                dy[o] = (y - t[n][o]) * k;
            }
            double[] dh = new double[HIDDEN];
            for (int o = 0; o < OUT; o++) {
                gb2[o] += dy[o];
                for (int j = 0; j < HIDDEN; j++) {
                    gw2[o * HIDDEN + j] += dy[o] * h[j];
                    dh[j] += dy[o] * w2[o * HIDDEN + j];
                }
            }
            for (int j = 0; j < HIDDEN; j++) {
                gb1[j] += dh[j];
                for (int i = 0; i < IN; i++) {
                    gw1[j * IN + i] += dh[j] * x[n][i];
                }
            }
        }
        Map<String, double[]> g = new LinkedHashMap<>();
        g.put("w1", gw1);
        g.put("b1", gb1);
        g.put("w2", gw2);
        g.put("b2", gb2);
        return g;
    }

    /** Single-device AdamW in float64 on the full batch, {@code steps} steps, optional clipping; flat result. */
    static double[] referenceAdamW(long seed, AdamWConfig c, int steps, double maxNorm) {
        Map<String, double[]> p = new LinkedHashMap<>();
        Map<String, double[]> m = new LinkedHashMap<>();
        Map<String, double[]> v = new LinkedHashMap<>();
        shapes().forEach((name, shape) -> {
            float[] init = init(seed, name, shape.numel());
            double[] d = new double[init.length];
            for (int i = 0; i < d.length; i++) {
                d[i] = init[i];
            }
            p.put(name, d);
            m.put(name, new double[d.length]);
            v.put(name, new double[d.length]);
        });
        for (int s = 0; s < steps; s++) {
            double[][][] b = batch(s);
            Map<String, double[]> g = gradients(p, b[0], b[1], 0, BATCH, 1);
            double sq = 0;
            for (double[] a : g.values()) {
                for (double e : a) {
                    sq += e * e;
                }
            }
            double norm = Math.sqrt(sq);
            double clip = norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
            long t = s + 1;
            double bc1 = 1 - Math.pow(c.beta1(), t), bc2 = 1 - Math.pow(c.beta2(), t);
            for (String name : p.keySet()) {
                double[] pp = p.get(name), gg = g.get(name), mm = m.get(name), vv = v.get(name);
                for (int i = 0; i < pp.length; i++) {
                    double gi = gg[i] * clip;
                    mm[i] = c.beta1() * mm[i] + (1 - c.beta1()) * gi;
                    vv[i] = c.beta2() * vv[i] + (1 - c.beta2()) * gi * gi;
                    pp[i] -= c.learningRate() * (mm[i] / bc1 / (Math.sqrt(vv[i] / bc2) + c.eps())
                            + c.weightDecay() * pp[i]);
                }
            }
        }
        return flatten(p);
    }

    static double[] flatten(Map<String, double[]> p) {
        return p.values().stream().flatMapToDouble(java.util.Arrays::stream).toArray();
    }

    static double relativeError(double[] out, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            num += (out[i] - ref[i]) * (out[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    private TinyMlp() {
    }
}
