package dev.gatun.zero;

/**
 * Dynamic loss scaling for fp16 (Micikevicius et al.): the loss gradient is multiplied by {@link #scale()}; a step
 * whose gradients hold a NaN or ±Inf on any rank is skipped and the scale divided by {@code factor}; after
 * {@code growthInterval} clean steps in a row it is multiplied by {@code factor}. Every rank must see the same
 * overflow verdict (the optimizer all-reduces it) so that the scales stay equal.
 */
public final class DynamicLossScaler {
    private final float factor;
    private final int growthInterval;
    private final float minScale;
    private float scale;
    private int cleanSteps;

    /** Starts at 2^16, factor 2, growth after 2000 clean steps, never below 1. */
    public DynamicLossScaler() {
        this(65536f, 2f, 2000, 1f);
    }

    public DynamicLossScaler(float initialScale, float factor, int growthInterval, float minScale) {
        if (!(initialScale > 0) || !Float.isFinite(initialScale)) {
            throw new IllegalArgumentException("initial scale must be finite and > 0, got " + initialScale);
        }
        if (!(factor > 1) || !Float.isFinite(factor)) {
            throw new IllegalArgumentException("factor must be finite and > 1, got " + factor);
        }
        if (growthInterval < 1) {
            throw new IllegalArgumentException("growth interval must be >= 1, got " + growthInterval);
        }
        if (!(minScale > 0) || minScale > initialScale) {
            throw new IllegalArgumentException("min scale must be in (0, initialScale], got " + minScale);
        }
        this.scale = initialScale;
        this.factor = factor;
        this.growthInterval = growthInterval;
        this.minScale = minScale;
    }

    /** The factor the loss gradient is multiplied by this step. */
    public float scale() {
        return scale;
    }

    /** Clean steps since the last overflow or growth. */
    public int cleanSteps() {
        return cleanSteps;
    }

    /** Sets the state a checkpoint saved: the current scale and the clean steps since the last change. */
    public void restore(float savedScale, int savedCleanSteps) {
        if (!(savedScale > 0) || savedCleanSteps < 0) {
            throw new IllegalArgumentException("loss scale " + savedScale + " must be > 0 and clean steps "
                    + savedCleanSteps + " >= 0");
        }
        this.scale = savedScale;
        this.cleanSteps = savedCleanSteps;
    }

    /** Records a step's verdict: shrink on overflow, grow after the interval of clean steps. */
    public void update(boolean overflow) {
        if (overflow) {
            scale = Math.max(minScale, scale / factor);
            cleanSteps = 0;
        } else if (++cleanSteps == growthInterval) {
            float grown = scale * factor;
            if (Float.isFinite(grown)) {
                scale = grown;
            }
            cleanSteps = 0;
        }
    }

    @Override
    public String toString() {
        return "DynamicLossScaler{scale=" + scale + ", clean=" + cleanSteps + "/" + growthInterval + "}";
    }
}
