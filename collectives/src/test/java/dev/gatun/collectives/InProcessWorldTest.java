package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;

import static dev.gatun.collectives.TestData.inputs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Running ranks as threads: results by rank, and the first failure ending every rank without waiting out timeouts. */
@Timeout(30)
class InProcessWorldTest {
    @Test
    void runReturnsEachRanksResultInRankOrder() {
        List<String> results = InProcessWorld.run(5, comm -> comm.name() + ":" + comm.rank() + "/" + comm.size());
        assertEquals(List.of("world:0/5", "world:1/5", "world:2/5", "world:3/5", "world:4/5"), results);
    }

    @Test
    void aFailingRankEndsTheRunAtOnceAndAbortsTheWaitingRanks() {
        // The default timeout is minutes: only the abort can end the other ranks' waits this soon.
        try (HostAllocator allocator = new HostAllocator()) {
            long start = System.nanoTime();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> InProcessWorld.run(4, comm -> {
                        try (Tensor t = inputs(allocator, DType.FP32, 7, 1, comm.rank(), 0)) {
                            if (comm.rank() == 2) {
                                throw new IllegalStateException("boom");
                            }
                            comm.allReduce(t, ReduceOp.SUM);
                        }
                        return null;
                    }));
            assertTrue(System.nanoTime() - start < 5_000_000_000L);
            assertEquals("boom", e.getMessage());
            assertEquals(3, e.getSuppressed().length, Arrays.toString(e.getSuppressed()));
            for (Throwable s : e.getSuppressed()) {
                CollectiveAbortedException aborted = assertInstanceOf(CollectiveAbortedException.class, s);
                assertSame(e, aborted.getCause());
                // Waiting ranks are woken; a rank that calls only after the abort is refused at once.
                assertTrue(aborted.getMessage().contains("world aborted: rank 2 of 4 failed: "
                        + "java.lang.IllegalStateException: boom"), aborted.getMessage());
            }
        }
    }

    @Test
    void ranksBusyOutsideCallsAreInterruptedWhenAnotherFails() {
        long start = System.nanoTime();
        assertThrows(IllegalStateException.class, () -> InProcessWorld.run(3, comm -> {
            if (comm.rank() == 0) {
                throw new IOException("disk full");
            }
            Thread.sleep(60_000);
            return null;
        }));
        assertTrue(System.nanoTime() - start < 5_000_000_000L);
    }

    @Test
    void aCheckedFailureIsWrappedNamingTheRank() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> InProcessWorld.run(2, comm -> {
                    if (comm.rank() == 1) {
                        throw new IOException("disk full");
                    }
                    return null;
                }));
        assertEquals("rank 1 of 2 failed: java.io.IOException: disk full", e.getMessage());
        assertInstanceOf(IOException.class, e.getCause());
    }

    @Test
    void aWorldNeedsAtLeastOneRank() {
        assertThrows(IllegalArgumentException.class, () -> new InProcessWorld(0));
        try (InProcessWorld world = new InProcessWorld(2)) {
            assertThrows(IllegalArgumentException.class, () -> world.communicator(2));
        }
    }

    @Test
    void aWorldCanRunSeveralTimesAndNumbersCallsOnward() {
        try (InProcessWorld world = new InProcessWorld(3)) {
            world.run(comm -> {
                comm.barrier();
                return null;
            });
            List<Long> seqs = world.run(comm -> {
                comm.barrier();
                return comm.recentCalls().get(1).seq();
            });
            assertEquals(List.of(1L, 1L, 1L), seqs);
        }
    }

    @Test
    void aClosedCommunicatorRefusesCalls() {
        InProcessWorld world = new InProcessWorld(2);
        world.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> world.communicator(0).barrier());
        assertEquals("communicator 'world' (rank 0) is closed", e.getMessage());
    }
}
