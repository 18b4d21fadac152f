package dev.gatun.gpt.train;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.pipeline.PipelineLoss;
import dev.gatun.tp.VocabParallelCrossEntropy;

import java.util.List;
import java.util.function.DoubleSupplier;

/**
 * The language-modelling loss of a micro-batch on the last stage: the mean over its {@code N = B·T} tokens of the
 * vocabulary-parallel cross-entropy, {@code L_mb = (1/N) Σ_n loss_n}, so its logit gradient is scaled by
 * {@code gradScale/N} and by the loss scale of mixed precision (undone by the optimizer).
 */
final class GptLoss implements PipelineLoss {
    private final VocabParallelCrossEntropy crossEntropy;
    private final TensorAllocator allocator;
    private final DeviceStream stream;
    private final List<Tensor> targets;
    private final DoubleSupplier lossScale;

    /** @param targets micro-batch {@code mb}'s int32 targets {@code [N]} */
    GptLoss(VocabParallelCrossEntropy crossEntropy, TensorAllocator allocator, DeviceStream stream,
            List<Tensor> targets, DoubleSupplier lossScale) {
        this.crossEntropy = crossEntropy;
        this.allocator = allocator;
        this.stream = stream;
        this.targets = targets;
        this.lossScale = lossScale;
    }

    @Override
    public Result evaluate(int microBatch, Tensor output, double gradScale) {
        Tensor t = targets.get(microBatch);
        long n = t.numel();
        Tensor dlogits = Tensor.allocate(allocator, DType.FP32, output.shape(), MemoryCategory.ACTIVATIONS,
                "loss.dlogits", stream);
        boolean ok = false;
        try (Tensor losses = Tensor.allocate(allocator, DType.FP32, Shape.of(n), MemoryCategory.ACTIVATIONS,
                "loss.losses", stream)) {
            crossEntropy.forwardBackward(output, t, (float) (gradScale / n * lossScale.getAsDouble()), losses,
                    dlogits);
            double sum = 0;
            for (float l : losses.toFloatArray(stream)) {
                sum += l;
            }
            ok = true;
            return new Result(sum / n, dlogits);
        } finally {
            if (!ok) {
                dlogits.close();
            }
        }
    }
}
