package dev.gatun.train;

/**
 * Linear warm-up followed by cosine decay, with steps counted from 0:
 *
 * <pre>
 *   lr(step) = maxLr · (step + 1) / warmupSteps                              for step &lt; warmupSteps
 *   lr(step) = minLr + ½ · (maxLr − minLr) · (1 + cos(π · progress))          otherwise
 *   progress = clamp((step − warmupSteps) / max(1, totalSteps − warmupSteps), 0, 1)
 * </pre>
 *
 * So the last warm-up step reaches {@code maxLr}, the middle of the decay gives {@code (maxLr + minLr) / 2}, and
 * {@code step >= totalSteps} gives {@code minLr}.
 *
 * @param maxLr       peak learning rate, finite and positive
 * @param minLr       final learning rate, in {@code [0, maxLr]}
 * @param warmupSteps steps of linear warm-up, in {@code [0, totalSteps]}
 * @param totalSteps  steps of the whole run, positive
 */
public record LearningRateSchedule(double maxLr, double minLr, long warmupSteps, long totalSteps) {
    /** @throws IllegalArgumentException if an argument is outside the range documented on the record */
    public LearningRateSchedule {
        if (!(maxLr > 0) || !Double.isFinite(maxLr)) {
            throw new IllegalArgumentException("maxLr=" + maxLr + " must be finite and > 0");
        }
        if (!(minLr >= 0) || minLr > maxLr) {
            throw new IllegalArgumentException("minLr=" + minLr + " must be in [0, maxLr=" + maxLr + "]");
        }
        if (totalSteps <= 0) {
            throw new IllegalArgumentException("totalSteps=" + totalSteps + " must be > 0");
        }
        if (warmupSteps < 0 || warmupSteps > totalSteps) {
            throw new IllegalArgumentException(
                    "warmupSteps=" + warmupSteps + " must be in [0, totalSteps=" + totalSteps + "]");
        }
    }

    /**
     * The learning rate of step {@code step} (0-based), by the formula on the record.
     *
     * @throws IllegalArgumentException if {@code step} is negative
     */
    public double at(long step) {
        if (step < 0) {
            throw new IllegalArgumentException("step=" + step + " must be >= 0");
        }
        if (step < warmupSteps) {
            return maxLr * (step + 1) / warmupSteps;
        }
        double progress = (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
        progress = Math.min(1.0, Math.max(0.0, progress));
        return minLr + 0.5 * (maxLr - minLr) * (1 + Math.cos(Math.PI * progress));
    }
}
