package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static dev.gatun.collectives.TestData.inputs;
import static dev.gatun.collectives.TestData.poisoned;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Ranks that disagree or do not arrive: every waiting rank fails within the timeout, with a message that says why. */
@Timeout(30)
class InProcessGroupTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(1);
    private static final CommOptions OPTIONS = CommOptions.DEFAULT.withTimeout(TIMEOUT);

    /** What a rank calls, given its communicator and two host tensors of 7 fp32 elements and one of 28. */
    private interface Call {
        void on(Communicator comm, Tensor a, Tensor b, Tensor wide);
    }

    /**
     * Runs a world of 4 where rank 2 makes {@code odd} and the others {@code usual}, after two barriers; returns what
     * each rank threw.
     */
    private static List<CollectiveException> runWithRankTwo(Call usual, Call odd) {
        try (HostAllocator allocator = new HostAllocator()) {
            return InProcessWorld.run(4, OPTIONS, comm -> {
                int r = comm.rank();
                try (Tensor a = inputs(allocator, DType.FP32, 7, 1, r, 0);
                     Tensor b = poisoned(allocator, DType.FP32, 7, r);
                     Tensor wide = poisoned(allocator, DType.FP32, 28, r)) {
                    comm.barrier();
                    comm.barrier();
                    return assertThrows(CollectiveException.class,
                            () -> (r == 2 ? odd : usual).on(comm, a, b, wide));
                }
            });
        }
    }

    private static void assertMismatchBlamesRankTwo(List<CollectiveException> failures, String expected,
                                                   String seen) {
        for (CollectiveException e : failures) {
            assertInstanceOf(CollectiveMismatchException.class, e, e.getMessage());
            String m = e.getMessage();
            assertTrue(m.contains("collective #2 on 'world' (4 ranks): the ranks called different operations"), m);
            assertTrue(m.contains("expected " + expected + " (called by ranks [0, 1, 3]), but rank 2 called " + seen),
                    m);
            assertTrue(m.contains("rank 2, call #2: " + seen + "   <-- differs"), m);
            assertTrue(m.contains("arrived: [0, 1, 2, 3]; not arrived: none"), m);
            assertTrue(m.contains("this rank: " + e.rank() + " of 'world', in call #2"), m);
            assertTrue(m.contains("#0 barrier() done") && m.contains("#1 barrier() done"), "ring buffer dump: " + m);
            assertEquals(2, e.sequence());
            assertEquals(List.of(0, 1, 2, 3), e.arrivedRanks());
            assertEquals(List.of(), e.missingRanks());
        }
        assertEquals(List.of(0, 1, 2, 3), failures.stream().map(CollectiveException::rank).toList());
    }

    @Test
    void aDifferentOperationFailsEveryRank() {
        assertMismatchBlamesRankTwo(runWithRankTwo(
                        (c, a, b, wide) -> c.allReduce(a, b, ReduceOp.SUM),
                        (c, a, b, wide) -> c.allGather(a, wide)),
                "allReduce(fp32 × 7, sum)", "allGather(fp32 × 7)");
    }

    @Test
    void aDifferentCountFailsEveryRank() {
        assertMismatchBlamesRankTwo(runWithRankTwo(
                        (c, a, b, wide) -> c.allReduce(a, b, ReduceOp.SUM),
                        (c, a, b, wide) -> c.allReduce(a.flat(0, 6), b.flat(0, 6), ReduceOp.SUM)),
                "allReduce(fp32 × 7, sum)", "allReduce(fp32 × 6, sum)");
    }

    @Test
    void aDifferentDtypeFailsEveryRank() {
        try (HostAllocator allocator = new HostAllocator()) {
            assertMismatchBlamesRankTwo(runWithRankTwo(
                            (c, a, b, wide) -> c.broadcast(a, a, 0),
                            (c, a, b, wide) -> {
                                try (Tensor h = inputs(allocator, DType.BF16, 7, 1, 2, 0)) {
                                    c.broadcast(h, h, 0);
                                }
                            }),
                    "broadcast(fp32 × 7, root 0)", "broadcast(bf16 × 7, root 0)");
        }
    }

    @Test
    void aDifferentRootFailsEveryRank() {
        assertMismatchBlamesRankTwo(runWithRankTwo(
                        (c, a, b, wide) -> c.reduce(a, b, ReduceOp.MAX, 0),
                        (c, a, b, wide) -> c.reduce(a, b, ReduceOp.MAX, 3)),
                "reduce(fp32 × 7, max, root 0)", "reduce(fp32 × 7, max, root 3)");
    }

    @Test
    void aDifferentReduceOpFailsEveryRank() {
        assertMismatchBlamesRankTwo(runWithRankTwo(
                        (c, a, b, wide) -> c.reduceScatter(wide, a, ReduceOp.AVG),
                        (c, a, b, wide) -> c.reduceScatter(wide, a, ReduceOp.MIN)),
                "reduceScatter(fp32 × 7, avg)", "reduceScatter(fp32 × 7, min)");
    }

    @Test
    void aMismatchEndsTheWorldRunWithTheMismatch() {
        try (HostAllocator allocator = new HostAllocator()) {
            CollectiveMismatchException e = assertThrows(CollectiveMismatchException.class,
                    () -> InProcessWorld.run(3, OPTIONS, comm -> {
                        try (Tensor t = inputs(allocator, DType.INT32, 5, 1, comm.rank(), 0)) {
                            comm.allReduce(t, comm.rank() == 0 ? ReduceOp.MAX : ReduceOp.SUM);
                        }
                        return null;
                    }));
            assertTrue(e.getMessage().contains("but rank 0 called allReduce(int32 × 5, max)"), e.getMessage());
        }
    }

    @Test
    void aRankThatDoesNotArriveFailsTheOthersWhenTheTimeoutEnds() {
        try (HostAllocator allocator = new HostAllocator()) {
            long start = System.nanoTime();
            List<CollectiveException> failures = InProcessWorld.run(4, OPTIONS, comm -> {
                if (comm.rank() == 3) {
                    return null;
                }
                try (Tensor t = inputs(allocator, DType.FP32, 7, 1, comm.rank(), 0)) {
                    return assertThrows(CollectiveException.class, () -> comm.allReduce(t, ReduceOp.SUM));
                }
            }).subList(0, 3);
            long elapsed = System.nanoTime() - start;
            assertTrue(elapsed >= TIMEOUT.toNanos() && elapsed < TIMEOUT.toNanos() + 3_000_000_000L,
                    "ended after " + elapsed / 1e6 + " ms");
            for (CollectiveException e : failures) {
                assertInstanceOf(CollectiveTimeoutException.class, e, e.getMessage());
                assertEquals(List.of(0, 1, 2), e.arrivedRanks());
                assertEquals(List.of(3), e.missingRanks());
                String m = e.getMessage();
                assertTrue(m.contains("collective #0 on 'world' (4 ranks): timed out after 1.00 s waiting for every "
                        + "rank to call allReduce(fp32 × 7, sum); arrived: [0, 1, 2]; not arrived: [3]"), m);
                assertTrue(m.contains("rank 3: not arrived   <-- missing"), m);
                assertTrue(m.contains("#0 allReduce(fp32 × 7, sum) running for "), m);
            }
        }
    }

    @Test
    void aCallOnAFailedCommunicatorIsAbortedAtOnce() {
        CountDownLatch timedOut = new CountDownLatch(1);
        try (HostAllocator allocator = new HostAllocator()) {
            List<CollectiveException> failures = InProcessWorld.run(2, OPTIONS, comm -> {
                try (Tensor t = inputs(allocator, DType.FP32, 7, 1, comm.rank(), 0)) {
                    if (comm.rank() == 0) {
                        assertThrows(CollectiveTimeoutException.class, comm::barrier);
                        timedOut.countDown();
                    } else {
                        assertTrue(timedOut.await(10, TimeUnit.SECONDS));
                    }
                    long start = System.nanoTime();
                    CollectiveException e = assertThrows(CollectiveException.class,
                            () -> comm.allReduce(t, ReduceOp.SUM));
                    assertTrue(System.nanoTime() - start < TIMEOUT.toNanos() / 2, "did not wait");
                    return e;
                }
            });
            for (CollectiveException e : failures) {
                assertInstanceOf(CollectiveAbortedException.class, e);
                assertTrue(e.getMessage().startsWith("'world' failed before this call and cannot be used: "),
                        e.getMessage());
            }
        }
    }

    @Test
    void aRecvThatGetsASendOfAnotherSizeFailsBothRanks() {
        try (HostAllocator allocator = new HostAllocator()) {
            List<CollectiveException> failures = InProcessWorld.run(2, OPTIONS, comm -> {
                try (Tensor t = inputs(allocator, DType.FP32, 8, 1, comm.rank(), 0)) {
                    return assertThrows(CollectiveException.class, () -> {
                        if (comm.rank() == 0) {
                            comm.send(t, 1);
                        } else {
                            comm.recv(t.flat(0, 7), 0);
                        }
                    });
                }
            });
            for (CollectiveException e : failures) {
                assertInstanceOf(CollectiveMismatchException.class, e, e.getMessage());
                assertTrue(e.getMessage().contains("rank 1 called recv(fp32 × 7, from 0) (call #0) but rank 0 sent "
                        + "send(fp32 × 8, to 1) (call #0)"), e.getMessage());
            }
        }
    }

    @Test
    void aRecvWithoutASendTimesOutNamingTheSender() {
        try (HostAllocator allocator = new HostAllocator()) {
            CollectiveTimeoutException e = assertThrows(CollectiveTimeoutException.class,
                    () -> InProcessWorld.run(3, OPTIONS, comm -> {
                        if (comm.rank() == 1) {
                            try (Tensor t = poisoned(allocator, DType.FP16, 3, 1)) {
                                comm.recv(t, 2);
                            }
                        }
                        return null;
                    }));
            assertEquals(List.of(2), e.missingRanks());
            assertTrue(e.getMessage().contains("rank 1 timed out after 1.00 s waiting for rank 2 to send for "
                    + "recv(fp16 × 3, from 2)"), e.getMessage());
        }
    }

    @Test
    void anAsynchronousCallReportsItsFailureThroughItsWork() {
        try (HostAllocator allocator = new HostAllocator()) {
            List<Object> results = InProcessWorld.run(2, OPTIONS, comm -> {
                if (comm.rank() == 1) {
                    return null;
                }
                try (Tensor t = inputs(allocator, DType.FP32, 7, 1, 0, 0)) {
                    Work work = comm.allReduceAsync(t, t, ReduceOp.SUM);
                    return assertThrows(CollectiveTimeoutException.class, work::await);
                }
            });
            CollectiveTimeoutException e = (CollectiveTimeoutException) results.get(0);
            assertEquals(List.of(1), e.missingRanks());
        }
    }
}
