package dev.gatun.train;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.pipeline.TensorSpec;
import dev.gatun.tp.VocabParallelCrossEntropy;

/**
 * The language-modelling loss of a micro-batch on the last stage (any model whose last stage gives vocabulary-parallel
 * logits {@code [B·T, Vp/tp]}): the mean over its {@code N = B·T} tokens of the
 * vocabulary-parallel cross-entropy, {@code L_mb = (1/N) Σ_n loss_n}, so its logit gradient is scaled by
 * {@code gradScale/N} (the engine's {@code gradScale} holds {@code 1/m} and the loss scale of mixed precision, undone
 * by the optimizer).
 */
public final class LanguageModelLoss implements ModelLoss {
    private final VocabParallelCrossEntropy crossEntropy;
    private final TensorAllocator allocator;
    private final DeviceStream stream;

    /** The loss over {@code crossEntropy}'s vocabulary, its tensors from {@code allocator} on {@code stream}. */
    public LanguageModelLoss(VocabParallelCrossEntropy crossEntropy, TensorAllocator allocator, DeviceStream stream) {
        this.crossEntropy = crossEntropy;
        this.allocator = allocator;
        this.stream = stream;
    }

    /** The loss of a vocabulary of {@code vocab} ids padded to {@code paddedVocab}, split over {@code ctx}'s tp group. */
    public static LanguageModelLoss of(int vocab, int paddedVocab, LayerContext ctx) {
        return new LanguageModelLoss(new VocabParallelCrossEntropy(vocab, paddedVocab, ctx.tp().group(),
                ctx.backend(), ctx.allocator()), ctx.allocator(), ctx.backend().stream());
    }

    /** What the last stage gives this loss: fp32 logits {@code [tokens, paddedVocab/tp]}. */
    public static TensorSpec logits(long tokens, int paddedVocab, int tp) {
        return new TensorSpec(DType.FP32, Shape.of(tokens, paddedVocab / tp));
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
