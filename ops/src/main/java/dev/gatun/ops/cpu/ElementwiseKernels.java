package dev.gatun.ops.cpu;

import dev.gatun.ops.AdamWStep;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.gatun.ops.cpu.Lanes.F;
import static dev.gatun.ops.cpu.Lanes.LENGTH;
import static dev.gatun.ops.cpu.Lanes.bound;
import static dev.gatun.ops.cpu.Lanes.get;
import static dev.gatun.ops.cpu.Lanes.load;
import static dev.gatun.ops.cpu.Lanes.set;
import static dev.gatun.ops.cpu.Lanes.store;

/**
 * The element-wise fp32 kernels of {@link CpuBackend} (add, scale, GELU, AdamW, the finite check, the sum of squares)
 * and the bias forward and backward, on host segments, vectorised and split into tasks by {@link Parallel}.
 */
final class ElementwiseKernels {
    private static final float GELU_SCALE = (float) Math.sqrt(2 / Math.PI);
    private static final float GELU_CUBIC = 0.044715f;

    private final Parallel parallel;

    ElementwiseKernels(Parallel parallel) {
        this.parallel = parallel;
    }

    /** {@code out[r, j] = silu(g)·u} with {@code g = gateUp[r, j]}, {@code u = gateUp[r, F + j]}. */
    void swiglu(MemorySegment gateUp, MemorySegment out, long rows, int f) {
        parallel.forEach(Parallel.Split.of(rows, 4L * f), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long in = r * 2 * f;
                long o = r * f;
                int j = 0;
                for (int end = (int) bound(f); j < end; j += LENGTH) {
                    FloatVector g = load(gateUp, in + j);
                    store(g.mul(sigmoid(g)).mul(load(gateUp, in + f + j)), out, o + j);
                }
                for (; j < f; j++) {
                    float g = get(gateUp, in + j);
                    set(out, o + j, g * sigmoid(g) * get(gateUp, in + f + j));
                }
            }
        });
    }

    /** {@code dg = dout·u·σ(g)·(1 + g·(1 − σ(g)))}, {@code du = dout·silu(g)} into {@code dgateUp}. */
    void swigluBackward(MemorySegment gateUp, MemorySegment dout, MemorySegment dgateUp, long rows, int f) {
        parallel.forEach(Parallel.Split.of(rows, 6L * f), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long in = r * 2 * f;
                long o = r * f;
                int j = 0;
                for (int end = (int) bound(f); j < end; j += LENGTH) {
                    FloatVector g = load(gateUp, in + j);
                    FloatVector u = load(gateUp, in + f + j);
                    FloatVector d = load(dout, o + j);
                    FloatVector sig = sigmoid(g);
                    FloatVector dsilu = sig.mul(g.mul(sig.neg().add(1f)).add(1f));
                    store(d.mul(u).mul(dsilu), dgateUp, in + j);
                    store(d.mul(g.mul(sig)), dgateUp, in + f + j);
                }
                for (; j < f; j++) {
                    float g = get(gateUp, in + j);
                    float u = get(gateUp, in + f + j);
                    float d = get(dout, o + j);
                    float sig = sigmoid(g);
                    float dsilu = sig * (g * (1f - sig) + 1f);
                    set(dgateUp, in + j, d * u * dsilu);
                    set(dgateUp, in + f + j, d * (g * sig));
                }
            }
        });
    }

    /** {@code σ(x) = 1/(1 + e^(−x))}, with the same exp in the vector and scalar paths. */
    private static FloatVector sigmoid(FloatVector x) {
        return FloatVector.broadcast(F, 1f).div(ExactMath.exp(x.neg()).add(1f));
    }

    private static float sigmoid(float x) {
        return 1f / (1f + ExactMath.exp(-x));
    }

    /** {@code out = a + b}; {@code out} may be {@code a} or {@code b}. */
    void add(MemorySegment a, MemorySegment b, MemorySegment out, long n) {
        elements(n, (lo, hi) -> {
            long i = lo;
            for (long end = lo + bound(hi - lo); i < end; i += LENGTH) {
                store(load(a, i).add(load(b, i)), out, i);
            }
            for (; i < hi; i++) {
                set(out, i, get(a, i) + get(b, i));
            }
        });
    }

    /** {@code x *= s}. */
    void scale(MemorySegment x, float s, long n) {
        elements(n, (lo, hi) -> {
            long i = lo;
            for (long end = lo + bound(hi - lo); i < end; i += LENGTH) {
                store(load(x, i).mul(s), x, i);
            }
            for (; i < hi; i++) {
                set(x, i, get(x, i) * s);
            }
        });
    }

    /**
     * {@code x *= s}; whether any result is NaN or infinite. With {@code s = 1} (fp32 without loss scaling) nothing is
     * written: {@code x·1 = x} for every float, so only the check runs, reading {@code x} once.
     */
    boolean scaleAndCheckFinite(MemorySegment x, float s, long n) {
        boolean writes = s != 1f;
        AtomicBoolean nonFinite = new AtomicBoolean();
        elements(n, (lo, hi) -> {
            boolean found = false;
            long i = lo;
            for (long end = lo + bound(hi - lo); i < end; i += LENGTH) {
                FloatVector v = load(x, i);
                if (writes) {
                    v = v.mul(s);
                    store(v, x, i);
                }
                found |= !v.test(VectorOperators.IS_FINITE).allTrue();
            }
            for (; i < hi; i++) {
                float v = get(x, i);
                if (writes) {
                    v *= s;
                    set(x, i, v);
                }
                found |= !Float.isFinite(v);
            }
            if (found) {
                nonFinite.set(true);
            }
        });
        return nonFinite.get();
    }

    /** {@code Σ x²} in double, from per-task partial sums added in task order. */
    double sumOfSquares(MemorySegment x, long n) {
        Parallel.Split split = Parallel.Split.of(n, 1);
        double[] partials = new double[split.count()];
        parallel.forEachTask(partials.length, task -> partials[task] =
                Lanes.sumSquaredDeviations(x, split.start(task), split.end(task) - split.start(task), 0f));
        double total = 0;
        for (double partial : partials) {
            total += partial;
        }
        return total;
    }

    /** GELU, tanh form: {@code out = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))}; {@code out} may be {@code in}. */
    void gelu(MemorySegment in, MemorySegment out, long n) {
        elements(n, (lo, hi) -> {
            long i = lo;
            for (long end = lo + bound(hi - lo); i < end; i += LENGTH) {
                FloatVector x = load(in, i);
                FloatVector t = ExactMath.tanh(x.mul(x).mul(x).mul(GELU_CUBIC).add(x).mul(GELU_SCALE));
                store(x.mul(0.5f).mul(t.add(1f)), out, i);
            }
            for (; i < hi; i++) {
                float x = get(in, i);
                float t = ExactMath.tanh(GELU_SCALE * (x + GELU_CUBIC * x * x * x));
                set(out, i, 0.5f * x * (1 + t));
            }
        });
    }

    /** {@code din = dout·GELU'(in)}: {@code ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)} with t as in GELU. */
    void geluBackward(MemorySegment in, MemorySegment dout, MemorySegment din, long n) {
        elements(n, (lo, hi) -> {
            long i = lo;
            for (long end = lo + bound(hi - lo); i < end; i += LENGTH) {
                FloatVector x = load(in, i);
                FloatVector x2 = x.mul(x);
                FloatVector t = ExactMath.tanh(x2.mul(x).mul(GELU_CUBIC).add(x).mul(GELU_SCALE));
                FloatVector du = x2.fma(3 * GELU_CUBIC, 1f).mul(GELU_SCALE);
                FloatVector sech2 = t.mul(t).neg().add(1f);
                FloatVector grad = t.add(1f).mul(0.5f).add(x.mul(0.5f).mul(sech2).mul(du));
                store(grad.mul(load(dout, i)), din, i);
            }
            for (; i < hi; i++) {
                float x = get(in, i);
                float t = ExactMath.tanh(GELU_SCALE * (x + GELU_CUBIC * x * x * x));
                float du = GELU_SCALE * (1 + 3 * GELU_CUBIC * x * x);
                float grad = 0.5f * (1 + t) + 0.5f * x * (1 - t * t) * du;
                set(din, i, grad * get(dout, i));
            }
        });
    }

    /**
     * One AdamW step on {@code n} elements, as {@link dev.gatun.ops.Backend#adamW} states it, on the gradient
     * {@code gradScale·grad} (each element multiplied once, in fp32, as {@link #scale} would; {@code grad} is not
     * written).
     */
    void adamW(MemorySegment param, MemorySegment grad, float gradScale, MemorySegment m, MemorySegment v, long n,
               AdamWStep step) {
        float lr = step.learningRate();
        float b1 = step.beta1();
        float b2 = step.beta2();
        float eps = step.eps();
        float wd = step.weightDecay();
        float bc1 = step.biasCorrection1();
        float bc2 = step.biasCorrection2();
        boolean scaled = gradScale != 1f;
        elements(n, (lo, hi) -> {
            long i = lo;
            for (long end = lo + bound(hi - lo); i < end; i += LENGTH) {
                FloatVector g = load(grad, i);
                if (scaled) {
                    g = g.mul(gradScale);
                }
                FloatVector mi = load(m, i).mul(b1).add(g.mul(1 - b1));
                FloatVector vi = load(v, i).mul(b2).add(g.mul(g).mul(1 - b2));
                store(mi, m, i);
                store(vi, v, i);
                FloatVector p = load(param, i);
                FloatVector update = mi.div(bc1).div(vi.div(bc2).sqrt().add(eps)).add(p.mul(wd));
                store(p.sub(update.mul(lr)), param, i);
            }
            for (; i < hi; i++) {
                float g = scaled ? get(grad, i) * gradScale : get(grad, i);
                float mi = b1 * get(m, i) + (1 - b1) * g;
                float vi = b2 * get(v, i) + (1 - b2) * g * g;
                set(m, i, mi);
                set(v, i, vi);
                float p = get(param, i);
                set(param, i, p - lr * ((mi / bc1) / ((float) Math.sqrt(vi / bc2) + eps) + wd * p));
            }
        });
    }

    /** {@code out[r, c] += bias[c]} over {@code rows} rows of {@code columns}. */
    void addBias(MemorySegment out, MemorySegment bias, int rows, int columns) {
        parallel.forEach(Parallel.Split.of(rows, columns), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long row = r * columns;
                int c = 0;
                for (int end = (int) bound(columns); c < end; c += LENGTH) {
                    store(load(out, row + c).add(load(bias, c)), out, row + c);
                }
                for (; c < columns; c++) {
                    set(out, row + c, get(out, row + c) + get(bias, c));
                }
            }
        });
    }

    /** {@code dbias[c] += Σ_r dout[r, c]}: fp32 partials per task of rows, added in double in task order. */
    void biasBackward(MemorySegment dout, MemorySegment dbias, int rows, int columns) {
        Parallel.Split split = Lanes.columnReductionSplit(rows, columns);
        float[][] partials = new float[split.count()][columns];
        parallel.forEachTask(partials.length, task -> {
            for (long r = split.start(task); r < split.end(task); r++) {
                Lanes.addInto(partials[task], dout, r * columns);
            }
        });
        Lanes.addColumnSums(partials, dbias);
    }

    private void elements(long n, Parallel.Range body) {
        parallel.forEach(Parallel.Split.of(n, 1), body);
    }
}
