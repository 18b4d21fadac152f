package dev.gatun.gpt.train;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.tp.VocabParallelCrossEntropy;
import dev.gatun.train.ModelLoss;

/**
 * The language-modelling loss of a micro-batch on the last stage: the mean over its {@code N = B·T} tokens of the
 * vocabulary-parallel cross-entropy, {@code L_mb = (1/N) Σ_n loss_n}, so its logit gradient is scaled by
 * {@code gradScale/N} (the engine's {@code gradScale} holds {@code 1/m} and the loss scale of mixed precision, undone
 * by the optimizer).
 */
final class GptLoss implements ModelLoss {
    private final VocabParallelCrossEntropy crossEntropy;
    private final TensorAllocator allocator;
    private final DeviceStream stream;

    GptLoss(VocabParallelCrossEntropy crossEntropy, TensorAllocator allocator, DeviceStream stream) {
        this.crossEntropy = crossEntropy;
        this.allocator = allocator;
        this.stream = stream;
    }

    /** {@code targets}: the micro-batch's int32 next tokens {@code [B, T]}. */
    @Override
    public Result evaluate(Tensor output, Tensor targets, double gradScale) {
        long n = targets.numel();
        Tensor dlogits = Tensor.allocate(allocator, DType.FP32, output.shape(), MemoryCategory.ACTIVATIONS,
                "loss.dlogits", stream);
        boolean ok = false;
        try (Tensor losses = Tensor.allocate(allocator, DType.FP32, Shape.of(n), MemoryCategory.ACTIVATIONS,
                "loss.losses", stream)) {
            crossEntropy.forwardBackward(output, targets, (float) (gradScale / n), losses, dlogits);
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
