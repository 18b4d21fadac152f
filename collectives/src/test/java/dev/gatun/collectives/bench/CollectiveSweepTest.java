package dev.gatun.collectives.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** nccl-tests' bus factors, and the shared-memory bound derived from the bytes each operation must move. */
class CollectiveSweepTest {
    @Test
    void busFactorsAreNcclTests() {
        assertEquals(1.5, CollectiveSweep.Op.ALL_REDUCE.busFactor(4), 1e-15);
        assertEquals(0.75, CollectiveSweep.Op.REDUCE_SCATTER.busFactor(4), 1e-15);
        assertEquals(0.875, CollectiveSweep.Op.ALL_GATHER.busFactor(8), 1e-15);
    }

    /**
     * A memcpy of S bytes moves 2S (read and write) in S/B seconds; an operation that must move {@code traffic}
     * bytes at the same rate takes at least {@code traffic/(2B)}, so its busbw is at most
     * {@code busFactor·S·2B/traffic}.
     */
    @Test
    void theSharedMemoryBoundIsTheBusFactorOverTheTrafficInMemcpys() {
        double s = 1;
        for (int n = 2; n <= 8; n++) {
            double allReduceTraffic = 2 * n * s; // every input read, every output written
            double shardedTraffic = (n + 1) * s; // all inputs (or outputs) of S in all, n outputs (inputs) of S
            assertEquals(CollectiveSweep.Op.ALL_REDUCE.busFactor(n) * 2 * s / allReduceTraffic,
                    CollectiveSweep.Op.ALL_REDUCE.sharedMemoryBound(n), 1e-15);
            assertEquals(CollectiveSweep.Op.REDUCE_SCATTER.busFactor(n) * 2 * s / shardedTraffic,
                    CollectiveSweep.Op.REDUCE_SCATTER.sharedMemoryBound(n), 1e-15);
            assertEquals(CollectiveSweep.Op.ALL_GATHER.busFactor(n) * 2 * s / shardedTraffic,
                    CollectiveSweep.Op.ALL_GATHER.sharedMemoryBound(n), 1e-15);
        }
        assertEquals(0.375, CollectiveSweep.Op.ALL_REDUCE.sharedMemoryBound(4), 1e-15);
        assertEquals(0.5, CollectiveSweep.Op.ALL_REDUCE.sharedMemoryBound(2), 1e-15);
    }
}
