package dev.gatun.tp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@link ParameterInit}'s generator: the inverse normal CDF, the moments it draws, and its independence of order. */
class ParameterInitTest {
    /** Quantiles of the standard normal to 16 digits (scipy.stats.norm.ppf). */
    @Test
    void theInverseCdfMatchesKnownQuantiles() {
        double[][] quantiles = {
            {0.5, 0.0}, {0.975, 1.959963984540054}, {0.025, -1.959963984540054}, {0.8413447460685429, 1.0},
            {0.001, -3.090232306167813}, {1e-9, -5.9978070150076865}, {0.9999, 3.719016485455709},
            {0.02425, -1.972961051311885}, {0.3, -0.5244005127080409}};
        for (double[] q : quantiles) {
            double x = ParameterInit.inverseNormalCdf(q[0]);
            assertEquals(q[1], x, 1.2e-9 * Math.max(1, Math.abs(q[1])), "Φ⁻¹(" + q[0] + ")");
        }
        double below = ParameterInit.inverseNormalCdf(Math.nextDown(0.02425));
        double above = ParameterInit.inverseNormalCdf(0.02425);
        assertEquals(below, above, 1e-8, "the tail and the central piece meet");
    }

    /** A million draws: mean 0 and variance 1 within 5 standard errors, 5% beyond ±1.96, no two neighbours equal. */
    @Test
    void drawsAreStandardNormal() {
        long key = ParameterInit.key(1337, "h0.mlp.fc.weight");
        int n = 1_000_000;
        double sum = 0;
        double sumSquares = 0;
        int beyond = 0;
        float previous = Float.NaN;
        for (int i = 0; i < n; i++) {
            float x = ParameterInit.gaussian(key, i, 1.0);
            sum += x;
            sumSquares += (double) x * x;
            beyond += Math.abs(x) > 1.959963984540054 ? 1 : 0;
            assertNotEquals(previous, x, "element " + i);
            previous = x;
        }
        double mean = sum / n;
        double variance = sumSquares / n - mean * mean;
        assertEquals(0, mean, 5 / Math.sqrt(n), "mean");
        assertEquals(1, variance, 5 * Math.sqrt(2.0 / n), "variance");
        assertEquals(0.05, (double) beyond / n, 5 * Math.sqrt(0.05 * 0.95 / n), "share beyond ±1.96");
    }

    /** The value depends on the seed, the name and the index, through the public entry point as through the key. */
    @Test
    void valuesArePureFunctionsOfSeedNameAndIndex() {
        float x = ParameterInit.gaussian(7, "w", 11, 0.02);
        assertEquals(x, ParameterInit.gaussian(ParameterInit.key(7, "w"), 11, 0.02));
        assertEquals(x, ParameterInit.gaussian(7, "w", 11, 0.02));
        assertNotEquals(x, ParameterInit.gaussian(8, "w", 11, 0.02));
        assertNotEquals(x, ParameterInit.gaussian(7, "v", 11, 0.02));
        assertNotEquals(x, ParameterInit.gaussian(7, "w", 12, 0.02));
        assertTrue(Math.abs(x) < 0.02 * 7);
    }
}
