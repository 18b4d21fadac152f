package dev.gatun.pipeline;

import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

/** {@code L_mb = (1/(2·rows)) Σ (y − t_mb)²}, gradient {@code scale · (y − t_mb)/rows}. */
record SquaredErrorLoss(float[][] targets, int rows, TensorAllocator allocator, DeviceStream stream)
        implements PipelineLoss {
    @Override
    public Result evaluate(int microBatch, Tensor output, double gradScale) {
        float[] y = output.toFloatArray(stream);
        float[] t = targets[microBatch];
        float[] g = new float[y.length];
        double loss = 0;
        for (int i = 0; i < y.length; i++) {
            double d = y[i] - t[i];
            loss += d * d;
            g[i] = (float) (gradScale * d / rows);
        }
        Tensor grad = Tensor.allocate(allocator, output.dtype(), output.shape(), MemoryCategory.ACTIVATIONS,
                "loss.grad" + microBatch, stream);
        grad.copyFrom(g, stream);
        return new Result(loss / (2.0 * rows), grad);
    }
}
