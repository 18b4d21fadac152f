package dev.gatun.zero;

import dev.gatun.ops.AdamWStep;

/** AdamW hyper-parameters without the step count; {@link #at} gives the {@link AdamWStep} for step {@code t}. */
public record AdamWConfig(float learningRate, float beta1, float beta2, float eps, float weightDecay) {
    public AdamWConfig {
        new AdamWStep(learningRate, beta1, beta2, eps, weightDecay, 1); // validates
    }

    /** The step {@code t ≥ 1} with these hyper-parameters. */
    public AdamWStep at(long t) {
        return new AdamWStep(learningRate, beta1, beta2, eps, weightDecay, t);
    }
}
