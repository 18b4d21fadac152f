package dev.gatun.pipeline;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Layers {@code [lo, hi)} of a test MLP, {@code y = tanh(W·x + b)} per layer with {@code W: [out × in]}, in fp32 with
 * plain loops. Parameter {@code index} of layer {@code l} (W row-major, then b) is a function of
 * {@code (seed, l, index)} only, so every split builds the same model.
 */
final class MlpStage implements PipelineStage {
    private final int[] widths;
    private final int lo;
    private final int hi;
    private final int rows;
    private final TensorAllocator allocator;
    private final DeviceStream stream;
    private final float[][] params;
    private final float[][] grads;
    /** Per micro-batch: the input of each layer, then the last layer's output. */
    private final Map<Integer, float[][]> saved = new HashMap<>();
    /** Per micro-batch whose input gradient ran: each layer's {@code dz}, until its weight gradient. */
    private final Map<Integer, float[][]> pendingWeights = new HashMap<>();
    int failForwardAt = -1;

    MlpStage(int[] widths, int lo, int hi, int rows, long seed, TensorAllocator allocator, DeviceStream stream) {
        this.widths = widths;
        this.lo = lo;
        this.hi = hi;
        this.rows = rows;
        this.allocator = allocator;
        this.stream = stream;
        this.params = new float[hi - lo][];
        this.grads = new float[hi - lo][];
        for (int l = lo; l < hi; l++) {
            int in = widths[l];
            int out = widths[l + 1];
            float[] p = new float[out * in + out];
            for (int i = 0; i < p.length; i++) {
                SplittableRandom r = new SplittableRandom(seed * 1_000_003L + l * 10_007L + i);
                p[i] = (float) ((r.nextDouble() * 2 - 1) * 1.5 / Math.sqrt(in));
            }
            params[l - lo] = p;
            grads[l - lo] = new float[p.length];
        }
    }

    /** The accumulated gradient of layer {@code layer}'s parameters (W row-major, then b). */
    float[] grad(int layer) {
        return grads[layer - lo];
    }

    int savedMicroBatches() {
        return saved.size();
    }

    @Override
    public TensorSpec inputSpec(int microBatch) {
        return new TensorSpec(DType.FP32, Shape.of(rows, widths[lo]));
    }

    @Override
    public TensorSpec outputSpec(int microBatch) {
        return new TensorSpec(DType.FP32, Shape.of(rows, widths[hi]));
    }

    @Override
    public Tensor forward(int microBatch, Tensor input) {
        if (microBatch == failForwardAt) {
            throw new IllegalStateException("boom in layers [" + lo + ", " + hi + ") micro-batch " + microBatch);
        }
        float[][] acts = new float[hi - lo + 1][];
        acts[0] = input.toFloatArray(stream);
        for (int l = lo; l < hi; l++) {
            int in = widths[l];
            int out = widths[l + 1];
            float[] p = params[l - lo];
            float[] x = acts[l - lo];
            float[] y = new float[rows * out];
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < out; i++) {
                    float z = p[out * in + i];
                    for (int j = 0; j < in; j++) {
                        z += p[i * in + j] * x[r * in + j];
                    }
                    y[r * out + i] = (float) Math.tanh(z);
                }
            }
            acts[l - lo + 1] = y;
        }
        saved.put(microBatch, acts);
        return tensor(acts[hi - lo], outputSpec(microBatch), "mlp[" + lo + "," + hi + ").out" + microBatch);
    }

    @Override
    public Tensor backward(int microBatch, Tensor outputGrad) {
        float[][] acts = saved.remove(microBatch);
        float[] g = outputGrad.toFloatArray(stream);
        for (int l = hi - 1; l >= lo; l--) {
            int in = widths[l];
            int out = widths[l + 1];
            float[] p = params[l - lo];
            float[] gp = grads[l - lo];
            float[] x = acts[l - lo];
            float[] y = acts[l - lo + 1];
            float[] gx = new float[rows * in];
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < out; i++) {
                    float dz = g[r * out + i] * (1 - y[r * out + i] * y[r * out + i]);
                    gp[out * in + i] += dz;
                    for (int j = 0; j < in; j++) {
                        gp[i * in + j] += dz * x[r * in + j];
                        gx[r * in + j] += dz * p[i * in + j];
                    }
                }
            }
            g = gx;
        }
        return tensor(g, inputSpec(microBatch), "mlp[" + lo + "," + hi + ").grad" + microBatch);
    }

    /**
     * The input-gradient half: the same {@code dz} and {@code dX} as {@link #backward}, the {@code dz} of every layer
     * kept with the activations for {@link #backwardWeight}.
     */
    @Override
    public Tensor backwardInput(int microBatch, Tensor outputGrad) {
        float[][] acts = saved.get(microBatch);
        if (acts == null || pendingWeights.containsKey(microBatch)) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " awaits its backward");
        }
        float[][] dzs = new float[hi - lo][];
        float[] g = outputGrad.toFloatArray(stream);
        for (int l = hi - 1; l >= lo; l--) {
            int in = widths[l];
            int out = widths[l + 1];
            float[] p = params[l - lo];
            float[] y = acts[l - lo + 1];
            float[] dz = new float[rows * out];
            float[] gx = new float[rows * in];
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < out; i++) {
                    dz[r * out + i] = g[r * out + i] * (1 - y[r * out + i] * y[r * out + i]);
                    for (int j = 0; j < in; j++) {
                        gx[r * in + j] += dz[r * out + i] * p[i * in + j];
                    }
                }
            }
            dzs[l - lo] = dz;
            g = gx;
        }
        pendingWeights.put(microBatch, dzs);
        return tensor(g, inputSpec(microBatch), "mlp[" + lo + "," + hi + ").grad" + microBatch);
    }

    /** The weight-gradient half: the parameter gradients {@link #backward} adds, in the same order. */
    @Override
    public void backwardWeight(int microBatch) {
        float[][] dzs = pendingWeights.remove(microBatch);
        if (dzs == null) {
            throw new IllegalStateException("micro-batch " + microBatch + " has no input gradient awaiting W");
        }
        float[][] acts = saved.remove(microBatch);
        for (int l = hi - 1; l >= lo; l--) {
            int in = widths[l];
            int out = widths[l + 1];
            float[] gp = grads[l - lo];
            float[] x = acts[l - lo];
            float[] dz = dzs[l - lo];
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < out; i++) {
                    gp[out * in + i] += dz[r * out + i];
                    for (int j = 0; j < in; j++) {
                        gp[i * in + j] += dz[r * out + i] * x[r * in + j];
                    }
                }
            }
        }
    }

    private Tensor tensor(float[] values, TensorSpec spec, String name) {
        Tensor t = Tensor.allocate(allocator, spec.dtype(), spec.shape(), MemoryCategory.ACTIVATIONS, name, stream);
        t.copyFrom(values, stream);
        return t;
    }
}
