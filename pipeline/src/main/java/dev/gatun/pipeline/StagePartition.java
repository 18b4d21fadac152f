package dev.gatun.pipeline;

import java.util.List;

/**
 * Consecutive layers assigned to pipeline stages: stage {@code s} holds layers
 * {@code [firstLayer(s), firstLayer(s) + layersPerStage(s))}. With {@code v} chunks per rank the stages are the
 * {@code p·v} chunks in model order (stage {@code s} on rank {@code s mod p}).
 *
 * @param layersPerStage the number of layers of each stage, each {@code ≥ 1}
 * @param stageCosts     the summed layer cost of each stage
 */
public record StagePartition(List<Integer> layersPerStage, List<Double> stageCosts) {
    public StagePartition {
        layersPerStage = List.copyOf(layersPerStage);
        stageCosts = List.copyOf(stageCosts);
        if (layersPerStage.size() != stageCosts.size()) {
            throw new IllegalArgumentException("one cost per stage expected: " + layersPerStage.size() + " stages, "
                    + stageCosts.size() + " costs");
        }
    }

    /** The number of stages. */
    public int stages() {
        return layersPerStage.size();
    }

    /** The index of stage {@code stage}'s first layer. */
    public int firstLayer(int stage) {
        int first = 0;
        for (int s = 0; s < stage; s++) {
            first += layersPerStage.get(s);
        }
        return first;
    }

    /** The largest stage cost: what bounds the pipeline's throughput. */
    public double maxCost() {
        return stageCosts.stream().mapToDouble(Double::doubleValue).max().orElse(0);
    }
}
