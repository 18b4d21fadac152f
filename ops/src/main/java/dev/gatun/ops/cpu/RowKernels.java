package dev.gatun.ops.cpu;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.gatun.ops.cpu.Lanes.F;
import static dev.gatun.ops.cpu.Lanes.LENGTH;
import static dev.gatun.ops.cpu.Lanes.bound;
import static dev.gatun.ops.cpu.Lanes.get;
import static dev.gatun.ops.cpu.Lanes.load;
import static dev.gatun.ops.cpu.Lanes.set;
import static dev.gatun.ops.cpu.Lanes.store;

/**
 * The row-wise fp32 kernels of {@link CpuBackend}: LayerNorm forward and backward, softmax (plain and causal, with
 * its backward, for attention) and the fused cross-entropy. Rows are independent and split into tasks by
 * {@link Parallel}; row sums go through {@link Lanes}, column sums (LayerNorm's parameter gradients) through per-task
 * partials added in task order.
 */
final class RowKernels {
    static final int BLOCK = 64 * LENGTH;

    private final Parallel parallel;

    RowKernels(Parallel parallel) {
        this.parallel = parallel;
    }

    void layerNorm(MemorySegment in, MemorySegment weight, MemorySegment bias, float eps, MemorySegment out,
                   MemorySegment mean, MemorySegment rstd, int rows, int columns) {
        parallel.forEach(Parallel.Split.of(rows, 3L * columns), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long row = r * columns;
                float mu = (float) (Lanes.sum(in, row, columns) / columns);
                double variance = Lanes.sumSquaredDeviations(in, row, columns, mu) / columns;
                float rs = (float) (1 / Math.sqrt(variance + eps));
                int c = 0;
                for (int end = (int) bound(columns); c < end; c += LENGTH) {
                    FloatVector xhat = load(in, row + c).sub(mu).mul(rs);
                    store(xhat.fma(load(weight, c), load(bias, c)), out, row + c);
                }
                for (; c < columns; c++) {
                    set(out, row + c, (get(in, row + c) - mu) * rs * get(weight, c) + get(bias, c));
                }
                set(mean, r, mu);
                set(rstd, r, rs);
            }
        });
    }

    /**
     * {@code din = σ⁻¹(g − mean(g) − x̂·mean(g·x̂))} with {@code g = dout·weight} (overwritten);
     * {@code dweight += Σ dout·x̂}, {@code dbias += Σ dout}.
     */
    void layerNormBackward(MemorySegment dout, MemorySegment in, MemorySegment weight, MemorySegment mean,
                           MemorySegment rstd, MemorySegment din, MemorySegment dweight, MemorySegment dbias,
                           int rows, int columns) {
        Parallel.Split split = Lanes.columnReductionSplit(rows, columns);
        float[][] dw = new float[split.count()][columns];
        float[][] db = new float[split.count()][columns];
        parallel.forEachTask(split.count(), task -> {
            for (long r = split.start(task); r < split.end(task); r++) {
                layerNormBackwardRow(dout, in, weight, get(mean, r), get(rstd, r), din, dw[task], db[task],
                        r * columns, columns);
            }
        });
        Lanes.addColumnSums(dw, dweight);
        Lanes.addColumnSums(db, dbias);
    }

    private static void layerNormBackwardRow(MemorySegment dout, MemorySegment in, MemorySegment weight, float mu,
                                             float rs, MemorySegment din, float[] dw, float[] db, long row,
                                             int columns) {
        int end = (int) bound(columns);
        double sumG = 0;
        double sumGX = 0;
        int c = 0;
        while (c < end) {
            int blockEnd = Math.min(end, c + BLOCK);
            FloatVector accG = FloatVector.zero(F);
            FloatVector accGX = FloatVector.zero(F);
            for (; c < blockEnd; c += LENGTH) {
                FloatVector xhat = load(in, row + c).sub(mu).mul(rs);
                FloatVector g = load(dout, row + c).mul(load(weight, c));
                accG = accG.add(g);
                accGX = g.fma(xhat, accGX);
            }
            sumG += Lanes.laneSum(accG);
            sumGX += Lanes.laneSum(accGX);
        }
        for (; c < columns; c++) {
            float xhat = (get(in, row + c) - mu) * rs;
            float g = get(dout, row + c) * get(weight, c);
            sumG += g;
            sumGX += (double) g * xhat;
        }
        float meanG = (float) (sumG / columns);
        float meanGX = (float) (sumGX / columns);
        c = 0;
        for (; c < end; c += LENGTH) {
            FloatVector xhat = load(in, row + c).sub(mu).mul(rs);
            FloatVector d = load(dout, row + c);
            FloatVector g = d.mul(load(weight, c));
            store(g.sub(meanG).sub(xhat.mul(meanGX)).mul(rs), din, row + c);
            d.fma(xhat, FloatVector.fromArray(F, dw, c)).intoArray(dw, c);
            d.add(FloatVector.fromArray(F, db, c)).intoArray(db, c);
        }
        for (; c < columns; c++) {
            float xhat = (get(in, row + c) - mu) * rs;
            float d = get(dout, row + c);
            float g = d * get(weight, c);
            set(din, row + c, (g - meanG - xhat * meanGX) * rs);
            dw[c] += d * xhat;
            db[c] += d;
        }
    }

    /** {@code out = x·σ⁻¹·weight} with {@code σ⁻¹ = 1/√(mean(x²) + eps)} per row, saved in {@code rstd}. */
    void rmsNorm(MemorySegment in, MemorySegment weight, float eps, MemorySegment out, MemorySegment rstd, int rows,
                 int columns) {
        parallel.forEach(Parallel.Split.of(rows, 2L * columns), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long row = r * columns;
                float rs = (float) (1 / Math.sqrt(Lanes.dot(in, row, in, row, columns) / columns + eps));
                int c = 0;
                for (int end = (int) bound(columns); c < end; c += LENGTH) {
                    store(load(in, row + c).mul(rs).mul(load(weight, c)), out, row + c);
                }
                for (; c < columns; c++) {
                    set(out, row + c, get(in, row + c) * rs * get(weight, c));
                }
                set(rstd, r, rs);
            }
        });
    }

    /** {@code din = σ⁻¹(g − x̂·mean(g·x̂))} with {@code g = dout·weight} (overwritten); {@code dweight += Σ dout·x̂}. */
    void rmsNormBackward(MemorySegment dout, MemorySegment in, MemorySegment weight, MemorySegment rstd,
                         MemorySegment din, MemorySegment dweight, int rows, int columns) {
        Parallel.Split split = Lanes.columnReductionSplit(rows, columns);
        float[][] dw = new float[split.count()][columns];
        parallel.forEachTask(split.count(), task -> {
            for (long r = split.start(task); r < split.end(task); r++) {
                rmsNormBackwardRow(dout, in, weight, get(rstd, r), din, dw[task], r * columns, columns);
            }
        });
        Lanes.addColumnSums(dw, dweight);
    }

    private static void rmsNormBackwardRow(MemorySegment dout, MemorySegment in, MemorySegment weight, float rs,
                                           MemorySegment din, float[] dw, long row, int columns) {
        int end = (int) bound(columns);
        double sumGX = 0;
        int c = 0;
        while (c < end) {
            int blockEnd = Math.min(end, c + BLOCK);
            FloatVector acc = FloatVector.zero(F);
            for (; c < blockEnd; c += LENGTH) {
                FloatVector xhat = load(in, row + c).mul(rs);
                acc = load(dout, row + c).mul(load(weight, c)).fma(xhat, acc);
            }
            sumGX += Lanes.laneSum(acc);
        }
        for (; c < columns; c++) {
            sumGX += (double) (get(dout, row + c) * get(weight, c)) * (get(in, row + c) * rs);
        }
        float meanGX = (float) (sumGX / columns);
        c = 0;
        for (; c < end; c += LENGTH) {
            FloatVector xhat = load(in, row + c).mul(rs);
            FloatVector d = load(dout, row + c);
            store(d.mul(load(weight, c)).sub(xhat.mul(meanGX)).mul(rs), din, row + c);
            d.fma(xhat, FloatVector.fromArray(F, dw, c)).intoArray(dw, c);
        }
        for (; c < columns; c++) {
            float xhat = get(in, row + c) * rs;
            float d = get(dout, row + c);
            set(din, row + c, (d * get(weight, c) - xhat * meanGX) * rs);
            dw[c] += d * xhat;
        }
    }

    /** Softmax of each row of {@code columns}. */
    void softmax(MemorySegment in, MemorySegment out, int rows, int columns) {
        parallel.forEach(Parallel.Split.of(rows, 3L * columns), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                softmaxRow(in, out, r * columns, columns);
            }
        });
    }

    /**
     * In place on {@code rows} rows of {@code t} ({@code [·, T, T]} flattened): row {@code i} of each {@code T×T}
     * block becomes the softmax of its first {@code i + 1} entries, and the masked rest 0.
     */
    void causalSoftmax(MemorySegment att, long rows, int t) {
        parallel.forEach(Parallel.Split.of(rows, 3L * t), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                int visible = (int) (r % t) + 1;
                long row = r * t;
                softmaxRow(att, att, row, visible);
                att.asSlice((row + visible) * Float.BYTES, (long) (t - visible) * Float.BYTES).fill((byte) 0);
            }
        });
    }

    /**
     * In place on {@code datt}, the causal softmax backward from the probabilities {@code att}:
     * {@code d[j] = att[j]·(datt[j] − Σ_{k≤i} att[k]·datt[k])} for {@code j ≤ i}, 0 for the masked {@code j > i}.
     */
    void causalSoftmaxBackward(MemorySegment att, MemorySegment datt, long rows, int t) {
        parallel.forEach(Parallel.Split.of(rows, 3L * t), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                int visible = (int) (r % t) + 1;
                long row = r * t;
                float s = (float) Lanes.dot(att, row, datt, row, visible);
                int j = 0;
                for (int end = (int) bound(visible); j < end; j += LENGTH) {
                    store(load(datt, row + j).sub(s).mul(load(att, row + j)), datt, row + j);
                }
                for (; j < visible; j++) {
                    set(datt, row + j, (get(datt, row + j) - s) * get(att, row + j));
                }
                datt.asSlice((row + visible) * Float.BYTES, (long) (t - visible) * Float.BYTES).fill((byte) 0);
            }
        });
    }

    /**
     * {@code losses[r] = logsumexp(logits[r]) − logits[r, target]}, {@code dlogits[r] = (softmax − onehot)·scale};
     * {@code dlogits} may be {@code logits}. Targets must be in {@code [0, columns)} (checked by the caller).
     */
    void crossEntropy(MemorySegment logits, MemorySegment targets, float dlossScale, MemorySegment losses,
                      MemorySegment dlogits, int rows, int columns) {
        parallel.forEach(Parallel.Split.of(rows, 4L * columns), (lo, hi) -> {
            for (long r = lo; r < hi; r++) {
                long row = r * columns;
                int target = targets.getAtIndex(ValueLayout.JAVA_INT, r);
                float max = Lanes.max(logits, row, columns);
                float targetLogit = get(logits, row + target);
                double sum = expInto(logits, dlogits, row, columns, max);
                set(losses, r, (float) (max + StrictMath.log(sum) - targetLogit));
                scaleRow(dlogits, row, columns, (float) (dlossScale / sum));
                set(dlogits, row + target, get(dlogits, row + target) - dlossScale);
            }
        });
    }

    private static void softmaxRow(MemorySegment in, MemorySegment out, long row, int n) {
        float max = Lanes.max(in, row, n);
        double sum = expInto(in, out, row, n, max);
        scaleRow(out, row, n, (float) (1 / sum));
    }

    /** {@code out[row + j] = exp(in[row + j] − max)} for {@code j < n}; returns their sum (in double, fixed order). */
    static double expInto(MemorySegment in, MemorySegment out, long row, int n, float max) {
        int end = (int) bound(n);
        double total = 0;
        int j = 0;
        while (j < end) {
            int blockEnd = Math.min(end, j + BLOCK);
            FloatVector acc = FloatVector.zero(F);
            for (; j < blockEnd; j += LENGTH) {
                FloatVector e = ExactMath.exp(load(in, row + j).sub(max));
                store(e, out, row + j);
                acc = acc.add(e);
            }
            total += Lanes.laneSum(acc);
        }
        for (; j < n; j++) {
            float e = ExactMath.exp(get(in, row + j) - max);
            set(out, row + j, e);
            total += e;
        }
        return total;
    }

    static void scaleRow(MemorySegment x, long row, int n, float s) {
        int j = 0;
        for (int end = (int) bound(n); j < end; j += LENGTH) {
            store(load(x, row + j).mul(s), x, row + j);
        }
        for (; j < n; j++) {
            set(x, row + j, get(x, row + j) * s);
        }
    }
}
