package dev.gatun.ops;

/**
 * The rotary embedding's frequencies and its {@code cos}/{@code sin} tables ({@link Backend#rotary}): for a head of
 * size {@code hs} the pair {@code i < hs/2} turns by {@code θ = t·ωᵢ} at position {@code t}, with
 * {@code ωᵢ = base^(−2i/hs)} (Su et al. 2021; Llama's {@code rope_theta} is the base: 10 000 for Llama 2, 500 000 for
 * Llama 3), optionally rescaled as Llama 3.1 and 3.2 do ({@link Llama3Scaling}). Computed in double, rounded once.
 *
 * @param headSize the head size {@code hs}, even
 * @param base     {@code rope_theta}, {@code > 1}
 * @param scaling  Llama 3's rescaling of the low frequencies, or null for none
 */
public record RotaryFrequencies(int headSize, double base, Llama3Scaling scaling) {
    /**
     * Llama 3.1's {@code rope_scaling} ({@code rope_type = "llama3"}): with wavelength {@code λ = 2π/ω} and
     * {@code L = originalMaxPositions}, frequencies whose {@code λ < L/highFreqFactor} stay, those with
     * {@code λ > L/lowFreqFactor} are divided by {@code factor}, and in between
     * {@code ω' = (1 − s)·ω/factor + s·ω} with {@code s = (L/λ − lowFreqFactor)/(highFreqFactor − lowFreqFactor)}.
     * Llama 3.1 8B: factor 8, 1, 4, 8192; Llama 3.2 1B: factor 32, 1, 4, 8192.
     */
    public record Llama3Scaling(double factor, double lowFreqFactor, double highFreqFactor,
                                int originalMaxPositions) {
        public Llama3Scaling {
            if (!(factor >= 1) || !(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor)
                    || originalMaxPositions < 1) {
                throw new IllegalArgumentException("llama3 rope scaling needs factor >= 1, 0 < lowFreqFactor < "
                        + "highFreqFactor and originalMaxPositions >= 1, got factor=" + factor + ", lowFreqFactor="
                        + lowFreqFactor + ", highFreqFactor=" + highFreqFactor + ", originalMaxPositions="
                        + originalMaxPositions);
            }
        }

        /** {@code ω} rescaled. */
        public double apply(double omega) {
            double wavelength = 2 * Math.PI / omega;
            double lowFreqWavelength = originalMaxPositions / lowFreqFactor;
            double highFreqWavelength = originalMaxPositions / highFreqFactor;
            if (wavelength < highFreqWavelength) {
                return omega;
            }
            if (wavelength > lowFreqWavelength) {
                return omega / factor;
            }
            double smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
            return (1 - smooth) * omega / factor + smooth * omega;
        }
    }

    public RotaryFrequencies {
        if (headSize < 2 || headSize % 2 != 0) {
            throw new IllegalArgumentException("the rotary embedding needs an even head size >= 2, got " + headSize);
        }
        if (!(base > 1) || !Double.isFinite(base)) {
            throw new IllegalArgumentException("the rotary base (rope_theta) must be finite and > 1, got " + base);
        }
    }

    /** {@code ωᵢ} for {@code i < hs/2}, rescaled when {@link #scaling} is set. */
    public double[] omegas() {
        double[] omega = new double[headSize / 2];
        for (int i = 0; i < omega.length; i++) {
            omega[i] = Math.pow(base, -2.0 * i / headSize);
            if (scaling != null) {
                omega[i] = scaling.apply(omega[i]);
            }
        }
        return omega;
    }

    /** {@code cos(t·ωᵢ)} row-major {@code [positions, hs/2]}. */
    public float[] cosTable(int positions) {
        return table(positions, true);
    }

    /** {@code sin(t·ωᵢ)} row-major {@code [positions, hs/2]}. */
    public float[] sinTable(int positions) {
        return table(positions, false);
    }

    private float[] table(int positions, boolean cos) {
        if (positions < 1) {
            throw new IllegalArgumentException("positions must be >= 1, got " + positions);
        }
        double[] omega = omegas();
        float[] out = new float[positions * omega.length];
        for (int t = 0; t < positions; t++) {
            for (int i = 0; i < omega.length; i++) {
                double angle = t * omega[i];
                out[t * omega.length + i] = (float) (cos ? Math.cos(angle) : Math.sin(angle));
            }
        }
        return out;
    }
}
