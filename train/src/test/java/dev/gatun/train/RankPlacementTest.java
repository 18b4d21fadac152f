package dev.gatun.train;

import dev.gatun.bindings.Cuda;
import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.launch.TorchrunEnvironment;
import dev.gatun.ops.cpu.CpuBackend;
import dev.gatun.ops.cuda.CudaBackendOptions;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The placements' checks, which run before anything starts, and the CPU placement's ranks. */
class RankPlacementTest {
    @Test
    void cpuThreadsGiveEveryRankItsOwnCpuBackendAndWorldRank() {
        List<String> ranks = RankPlacement.cpuThreads().run(3, CommOptions.DEFAULT, rank -> {
            assertInstanceOf(CpuBackend.class, rank.backend());
            return rank.world().rank() + "/" + rank.world().size();
        });
        assertEquals(List.of("0/3", "1/3", "2/3"), ranks);
        assertTrue(RankPlacement.cpuThreads().peakFlopsPerRank().isEmpty());
        assertEquals("1 rank as a thread on the CPU", RankPlacement.cpuThreads().describe(1));
    }

    @Test
    void aTorchrunProcessRefusesALayoutOfAnotherWorldSize() {
        var env = new TorchrunEnvironment(1, 2, 1, 2, "127.0.0.1", 29500, "");
        var placement = RankPlacement.torchrunProcess(env, Duration.ofSeconds(1), CudaBackendOptions.DEFAULT);
        var e = assertThrows(IllegalArgumentException.class, () -> placement.check(4));
        assertEquals("the layout has 4 ranks but WORLD_SIZE is 2: launch dp·tp·pp processes", e.getMessage());
        assertEquals("rank 1 of 2 processes (torchrun variables), on cuda:1 (NCCL)", placement.describe(2));
    }

    @Test
    void gpusThatAreNotThereAreNamedBeforeAnythingStarts() {
        var placement = RankPlacement.localGpus(CudaBackendOptions.DEFAULT);
        var e = assertThrows(IllegalArgumentException.class, () -> placement.check(64));
        assertTrue(e.getMessage().startsWith(Cuda.isAvailable() ? "the layout has 64 ranks but this machine has "
                : "--device cuda: no CUDA device: "), e.getMessage());
    }
}
