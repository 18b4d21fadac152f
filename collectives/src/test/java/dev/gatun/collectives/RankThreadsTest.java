package dev.gatun.collectives;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class RankThreadsTest {
    @Test
    void resultsComeBackByRankFromThreadsOfTheirOwn() {
        List<String> out = RankThreads.run(3, "test-rank-", r -> r + ":" + Thread.currentThread().getName(),
                (reason, cause, threads) -> { throw new AssertionError("no rank failed: " + reason); });
        assertEquals(List.of("0:test-rank-0", "1:test-rank-1", "2:test-rank-2"), out);
    }

    @Test
    void theFirstFailureIsThrownOnceTheOthersAreStoppedAndTheirFailuresAreSuppressed() {
        IllegalStateException boom = new IllegalStateException("rank 1 broke");
        AtomicInteger stops = new AtomicInteger();
        CountDownLatch stopped = new CountDownLatch(1);
        var e = assertThrows(IllegalStateException.class, () -> RankThreads.run(3, "test-rank-", r -> {
            if (r == 1) {
                throw boom;
            }
            assertTrue(stopped.await(10, TimeUnit.SECONDS), "the failure stops the others");
            throw new IllegalStateException("rank " + r + " stopped");
        }, (reason, cause, threads) -> {
            assertSame(boom, cause);
            assertTrue(reason.startsWith("rank 1 of 3 failed: "), reason);
            assertEquals(3, threads.size());
            stops.incrementAndGet();
            stopped.countDown();
        }));
        assertSame(boom, e);
        assertEquals(1, stops.get());
        assertEquals(2, e.getSuppressed().length);
    }

    @Test
    void aCheckedFailureIsWrappedNamingItsRank() {
        var e = assertThrows(IllegalStateException.class, () -> RankThreads.run(2, "test-rank-", r -> {
            if (r == 0) {
                throw new IOException("disk");
            }
            return r;
        }, (reason, cause, threads) -> { }));
        assertTrue(e.getMessage().startsWith("rank 0 of 2 failed: java.io.IOException: disk"), e.getMessage());
        assertInstanceOf(IOException.class, e.getCause());
    }
}
