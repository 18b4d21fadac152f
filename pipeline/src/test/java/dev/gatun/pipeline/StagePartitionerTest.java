package dev.gatun.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class StagePartitionerTest {
    /** The smallest max stage cost over every split of the layers into {@code stages} non-empty runs. */
    private static double bruteForce(double[] costs, int stages, int from) {
        if (stages == 1) {
            double sum = 0;
            for (int i = from; i < costs.length; i++) {
                sum += costs[i];
            }
            return sum;
        }
        double best = Double.POSITIVE_INFINITY;
        double head = 0;
        for (int end = from + 1; costs.length - end >= stages - 1; end++) {
            head += costs[end - 1];
            best = Math.min(best, Math.max(head, bruteForce(costs, stages - 1, end)));
        }
        return best;
    }

    @Test
    void optimalAgainstBruteForceOnRandomCosts() {
        Random random = new Random(20240601);
        for (int trial = 0; trial < 400; trial++) {
            int n = 1 + random.nextInt(10);
            int stages = 1 + random.nextInt(n);
            boolean integral = trial % 2 == 0;
            double[] costs = new double[n];
            for (int i = 0; i < n; i++) {
                costs[i] = integral ? random.nextInt(20) : random.nextDouble() * 10;
            }
            StagePartition part = StagePartitioner.balance(costs, stages);
            assertEquals(stages, part.stages());
            assertEquals(n, part.layersPerStage().stream().mapToInt(Integer::intValue).sum());
            assertTrue(part.layersPerStage().stream().allMatch(c -> c >= 1));
            double expected = bruteForce(costs, stages, 0);
            assertEquals(expected, part.maxCost(), integral ? 0 : 1e-9 * Math.max(1, expected),
                    Arrays.toString(costs) + " into " + stages);
        }
    }

    @Test
    void balancesATypicalModelWithEmbeddingAndHead() {
        // embedding, 8 equal blocks, head: 4 stages.
        double[] costs = {3, 2, 2, 2, 2, 2, 2, 2, 2, 3};
        StagePartition part = StagePartitioner.balance(costs, 4);
        assertEquals(6.0, part.maxCost());
        assertEquals(22.0, part.stageCosts().stream().mapToDouble(Double::doubleValue).sum());
        assertEquals(0, part.firstLayer(0));
        assertEquals(part.layersPerStage().get(0), part.firstLayer(1));
    }

    @Test
    void explicitOverride() {
        double[] costs = {1, 2, 3, 4, 5};
        StagePartition part = StagePartitioner.fixed(costs, 2, 1, 2);
        assertEquals(List.of(2, 1, 2), part.layersPerStage());
        assertEquals(List.of(3.0, 3.0, 9.0), part.stageCosts());
        assertEquals(3, part.firstLayer(2));
        IllegalArgumentException sum = assertThrows(IllegalArgumentException.class,
                () -> StagePartitioner.fixed(costs, 2, 2));
        assertTrue(sum.getMessage().contains("[2, 2] sum to 4, but the model has 5 layers"), sum.getMessage());
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                () -> StagePartitioner.fixed(costs, 3, 0, 2));
        assertTrue(empty.getMessage().contains("stage 1 has 0 layers, each stage needs at least 1"),
                empty.getMessage());
        assertThrows(IllegalArgumentException.class, () -> StagePartitioner.fixed(costs));
    }

    @Test
    void rejectsImpossibleSplitsAndBadCosts() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StagePartitioner.balance(new double[] {1, 1, 1}, 4));
        assertTrue(e.getMessage().contains("cannot split 3 layers into 4 stages"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> StagePartitioner.balance(new double[] {1, -1}, 1));
        assertThrows(IllegalArgumentException.class, () -> StagePartitioner.balance(new double[] {1, Double.NaN}, 1));
        assertThrows(IllegalArgumentException.class, () -> StagePartitioner.balance(new double[0], 1));
    }
}
