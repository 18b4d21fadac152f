package dev.gatun.pipeline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Splits a model's layers into consecutive pipeline stages. The per-layer cost can be anything additive — parameter
 * count, FLOPs, measured time — and the embedding and the head are simply entries of the cost vector.
 */
public final class StagePartitioner {
    private StagePartitioner() {
    }

    /**
     * The split of {@code layerCosts.length} layers into {@code stages} non-empty runs of consecutive layers that
     * minimises the largest stage cost, exactly: dynamic programming over prefix sums, {@code best[k][i] = min_j
     * max(best[k−1][j], cost(j, i))} for the first {@code i} layers in {@code k} stages, {@code O(stages·n²)}.
     *
     * @param layerCosts one finite cost {@code ≥ 0} per layer, in model order
     * @param stages     {@code p·v}, at least 1 and at most the number of layers
     */
    public static StagePartition balance(double[] layerCosts, int stages) {
        int n = layerCosts.length;
        requireCosts(layerCosts);
        if (stages < 1 || stages > n) {
            throw new IllegalArgumentException("cannot split " + n + " layers into " + stages + " stages: need "
                    + "1 <= stages <= layers, each stage holds at least one layer");
        }
        double[] prefix = new double[n + 1];
        for (int i = 0; i < n; i++) {
            prefix[i + 1] = prefix[i] + layerCosts[i];
        }
        double[][] best = new double[stages + 1][n + 1];
        int[][] cut = new int[stages + 1][n + 1];
        for (double[] row : best) {
            Arrays.fill(row, Double.POSITIVE_INFINITY);
        }
        for (int i = 1; i <= n; i++) {
            best[1][i] = prefix[i];
        }
        for (int k = 2; k <= stages; k++) {
            for (int i = k; i <= n; i++) {
                for (int j = k - 1; j < i; j++) {
                    double cost = Math.max(best[k - 1][j], prefix[i] - prefix[j]);
                    if (cost < best[k][i]) {
                        best[k][i] = cost;
                        cut[k][i] = j;
                    }
                }
            }
        }
        int[] counts = new int[stages];
        for (int k = stages, i = n; k >= 1; k--) {
            int j = k == 1 ? 0 : cut[k][i];
            counts[k - 1] = i - j;
            i = j;
        }
        return fixed(layerCosts, counts);
    }

    /**
     * An explicit split, e.g. from a configuration file: stage {@code s} gets {@code layersPerStage[s]} layers.
     *
     * @throws IllegalArgumentException unless every count is {@code ≥ 1} and they sum to the number of layers
     */
    public static StagePartition fixed(double[] layerCosts, int... layersPerStage) {
        requireCosts(layerCosts);
        if (layersPerStage.length == 0) {
            throw new IllegalArgumentException("layers per stage is empty: give one count per stage");
        }
        int total = 0;
        for (int s = 0; s < layersPerStage.length; s++) {
            if (layersPerStage[s] < 1) {
                throw new IllegalArgumentException("layers per stage " + Arrays.toString(layersPerStage) + ": stage "
                        + s + " has " + layersPerStage[s] + " layers, each stage needs at least 1");
            }
            total += layersPerStage[s];
        }
        if (total != layerCosts.length) {
            throw new IllegalArgumentException("layers per stage " + Arrays.toString(layersPerStage) + " sum to "
                    + total + ", but the model has " + layerCosts.length + " layers");
        }
        List<Integer> counts = new ArrayList<>();
        List<Double> costs = new ArrayList<>();
        int first = 0;
        for (int count : layersPerStage) {
            double sum = 0;
            for (int i = first; i < first + count; i++) {
                sum += layerCosts[i];
            }
            counts.add(count);
            costs.add(sum);
            first += count;
        }
        return new StagePartition(counts, costs);
    }

    private static void requireCosts(double[] layerCosts) {
        if (layerCosts.length == 0) {
            throw new IllegalArgumentException("no layers: give one cost per layer");
        }
        for (int i = 0; i < layerCosts.length; i++) {
            if (!(layerCosts[i] >= 0 && Double.isFinite(layerCosts[i]))) {
                throw new IllegalArgumentException("layer " + i + " has cost " + layerCosts[i]
                        + ": costs must be finite and >= 0");
            }
        }
    }
}
