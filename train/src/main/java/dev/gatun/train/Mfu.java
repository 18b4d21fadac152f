package dev.gatun.train;

/**
 * Model FLOPs utilisation: the model FLOP/s a run achieves, {@code flopsPerToken · tokens/s} (PaLM's count, for
 * a GPT {@code 6N} plus attention), over the peak FLOP/s of all its ranks' devices,
 * {@code peakFlopsPerRank · ranks}.
 */
public record Mfu(double flopsPerToken, double peakFlopsPerRank, int ranks) {
    public Mfu {
        if (!(flopsPerToken > 0) || !(peakFlopsPerRank > 0) || ranks < 1) {
            throw new IllegalArgumentException("MFU needs flopsPerToken > 0, peakFlopsPerRank > 0 and ranks >= 1, got "
                    + flopsPerToken + ", " + peakFlopsPerRank + ", " + ranks);
        }
    }

    /** The utilisation at {@code tokensPerSecond}, a fraction of 1. */
    public double at(double tokensPerSecond) {
        return tokensPerSecond * flopsPerToken / (peakFlopsPerRank * ranks);
    }
}
