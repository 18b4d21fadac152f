package dev.gatun.ops;

/**
 * The hyper-parameters of one AdamW step (Loshchilov &amp; Hutter: decoupled weight decay), with step {@code t ≥ 1}
 * for bias correction: {@code m̂ = m/(1−β₁ᵗ)}, {@code v̂ = v/(1−β₂ᵗ)},
 * {@code p −= lr·(m̂/(√v̂ + eps) + weightDecay·p)}.
 */
public record AdamWStep(float learningRate, float beta1, float beta2, float eps, float weightDecay, long t) {
    public AdamWStep {
        if (!(learningRate >= 0) || !Float.isFinite(learningRate)) {
            throw new IllegalArgumentException("learning rate must be finite and >= 0, got " + learningRate);
        }
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(eps > 0)) {
            throw new IllegalArgumentException("eps must be > 0, got " + eps);
        }
        if (!(weightDecay >= 0) || !Float.isFinite(weightDecay)) {
            throw new IllegalArgumentException("weight decay must be finite and >= 0, got " + weightDecay);
        }
        if (t < 1) {
            throw new IllegalArgumentException("step t counts from 1, got " + t);
        }
    }

    /** {@code 1 − β₁ᵗ}. */
    public float biasCorrection1() {
        return (float) (1 - Math.pow(beta1, t));
    }

    /** {@code 1 − β₂ᵗ}. */
    public float biasCorrection2() {
        return (float) (1 - Math.pow(beta2, t));
    }
}
