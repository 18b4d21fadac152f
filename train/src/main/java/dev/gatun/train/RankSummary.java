package dev.gatun.train;

import dev.gatun.collectives.DeviceMesh;
import dev.gatun.memory.MemoryReport;

/**
 * A rank's memory at the end of a run, next to the ZeRO formula for its model states.
 *
 * @param rank                  world rank
 * @param coordinates           its place in the mesh
 * @param memory                current and peak bytes by category
 * @param formulaModelStateBytes the ZeRO paper's model-state bytes for this rank's parameters, stage and dp size
 */
public record RankSummary(int rank, DeviceMesh.Coordinates coordinates, MemoryReport memory,
                          long formulaModelStateBytes) {
}
