package dev.gatun.train;

import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.zero.PrecisionPolicy;

import java.util.Objects;

/**
 * The training hyper-parameters that do not depend on the layout.
 *
 * @param policy          parameter dtype and master weights (fp32, bf16-mixed, fp16-mixed with loss scaling)
 * @param learningRate    warm-up and cosine decay
 * @param maxGradNorm     clipping threshold of the global gradient norm ({@code POSITIVE_INFINITY}: none)
 * @param weightDecay     AdamW's decoupled weight decay
 * @param seed            initialisation and data-order seed
 * @param batchExamples   examples (sequences for a language model) per step over all data-parallel ranks (the global
 *                        batch)
 * @param initialWeights  full parameters to start from instead of the seeded initialisation (e.g. an imported
 *                        Hugging Face GPT-2), or null
 * @param recompute       which layers recompute their activations in the backward ({@link RecomputePlan#NONE}: none)
 */
public record TrainOptions(PrecisionPolicy policy, LearningRateSchedule learningRate, float maxGradNorm,
                           float weightDecay, long seed, int batchExamples, ModelWeights initialWeights,
                           RecomputePlan recompute) {
    /** Options starting from {@code initialWeights} (or the seeded initialisation when null), no recomputation. */
    public TrainOptions(PrecisionPolicy policy, LearningRateSchedule learningRate, float maxGradNorm,
                        float weightDecay, long seed, int batchExamples, ModelWeights initialWeights) {
        this(policy, learningRate, maxGradNorm, weightDecay, seed, batchExamples, initialWeights, RecomputePlan.NONE);
    }

    /** Options starting from the seeded initialisation. */
    public TrainOptions(PrecisionPolicy policy, LearningRateSchedule learningRate, float maxGradNorm,
                        float weightDecay, long seed, int batchExamples) {
        this(policy, learningRate, maxGradNorm, weightDecay, seed, batchExamples, null);
    }

    /** The same options starting from {@code weights}. */
    public TrainOptions withInitialWeights(ModelWeights weights) {
        return new TrainOptions(policy, learningRate, maxGradNorm, weightDecay, seed, batchExamples, weights,
                recompute);
    }

    /** The same options with activation recomputation as {@code plan} says. */
    public TrainOptions withRecompute(RecomputePlan plan) {
        return new TrainOptions(policy, learningRate, maxGradNorm, weightDecay, seed, batchExamples, initialWeights,
                plan);
    }

    public TrainOptions {
        Objects.requireNonNull(policy, "policy must not be null");
        Objects.requireNonNull(learningRate, "learningRate must not be null");
        Objects.requireNonNull(recompute, "recompute must not be null");
        if (!(maxGradNorm > 0)) {
            throw new IllegalArgumentException("the gradient-clipping norm must be > 0, got " + maxGradNorm);
        }
        if (weightDecay < 0) {
            throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        }
        if (batchExamples < 1) {
            throw new IllegalArgumentException("--batch must be >= 1, got " + batchExamples);
        }
    }
}
