package dev.gatun.zero;

/**
 * How much of the model state the data-parallel ranks partition (Rajbhandari et al., ZeRO). With Ψ parameters, N
 * ranks, parameter and gradient element sizes {@code p} and {@code g} bytes and {@code k} optimizer-state bytes per
 * parameter (Adam moments 8, plus 4 for fp32 master weights under mixed precision), the model state per rank is:
 * <ul>
 *   <li>{@link #NONE}: {@code (p + g + k)Ψ} — plain data parallelism;</li>
 *   <li>{@link #ONE}: {@code (p + g)Ψ + kΨ/N} — optimizer state sharded;</li>
 *   <li>{@link #TWO}: {@code pΨ + (g + k)Ψ/N} — gradients sharded too;</li>
 *   <li>{@link #THREE}: {@code (p + g + k)Ψ/N} — parameters sharded too.</li>
 * </ul>
 * For mixed-precision Adam ({@code p = g = 2, k = 12}) these are the paper's 16Ψ, 4Ψ + 12Ψ/N, 2Ψ + 14Ψ/N, 16Ψ/N.
 */
public enum ZeroStage {
    NONE, ONE, TWO, THREE;

    /** The model-state bytes per rank by the formula above, for {@code psi} parameters on {@code dp} ranks. */
    public long modelStateBytes(long psi, int dp, PrecisionPolicy policy) {
        if (psi < 0 || dp < 1) {
            throw new IllegalArgumentException("need psi >= 0 and dp >= 1, got psi=" + psi + ", dp=" + dp);
        }
        long p = policy.paramDtype().byteSize();
        long g = policy.paramDtype().byteSize();
        long k = policy.optimizerStateBytesPerParameter();
        return switch (this) {
            case NONE -> (p + g + k) * psi;
            case ONE -> (p + g) * psi + k * psi / dp;
            case TWO -> p * psi + (g + k) * psi / dp;
            case THREE -> (p + g + k) * psi / dp;
        };
    }

    /**
     * Parameter-dtype elements one step moves per rank, counted as the paper does: an all-reduce of Ψ counts 2Ψ
     * (a reduce-scatter plus an all-gather), so NONE, ONE and TWO move 2Ψ and THREE 3Ψ (two all-gathers, forward and
     * backward, and one reduce-scatter).
     */
    public long communicatedElements(long psi) {
        return this == THREE ? 3 * psi : 2 * psi;
    }
}
