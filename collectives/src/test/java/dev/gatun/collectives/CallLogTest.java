package dev.gatun.collectives;

import dev.gatun.memory.DType;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CallLogTest {
    private static final OpSignature ALL_REDUCE =
            new OpSignature(OpType.ALL_REDUCE, DType.FP32, 1009, -1, -1, ReduceOp.SUM, 4036);
    private static final OpSignature SEND = new OpSignature(OpType.SEND, DType.BF16, 8, -1, 3, null, 16);

    @Test
    void keepsTheLastCallsInARing() {
        CallLog log = new CallLog(4);
        for (int i = 0; i < 10; i++) {
            long seq = log.issue(i % 2 == 0 ? ALL_REDUCE : SEND);
            assertEquals(i, seq);
            log.started(seq);
            log.finished(seq, true);
        }
        assertEquals(List.of(6L, 7L, 8L, 9L), log.recent().stream().map(CallRecord::seq).toList());
        assertEquals(10, log.issued());
        log.finished(2, false); // long gone from the ring: ignored
        assertTrue(log.recent().stream().allMatch(r -> r.state() == CallRecord.State.DONE));
    }

    @Test
    void tracksEachCallsStateAndTimes() {
        CallLog log = new CallLog(8);
        long a = log.issue(ALL_REDUCE);
        long b = log.issue(SEND);
        long c = log.issue(SEND);
        log.started(a);
        log.finished(a, true);
        log.started(b);
        log.finished(c, false);
        log.finished(a, false); // a finished call stays finished
        List<CallRecord> recent = log.recent();
        assertEquals(List.of(CallRecord.State.DONE, CallRecord.State.RUNNING, CallRecord.State.FAILED),
                recent.stream().map(CallRecord::state).toList());
        CallRecord done = recent.get(0);
        assertTrue(done.issuedNanos() <= done.startNanos() && done.startNanos() <= done.endNanos());
        assertEquals(done.endNanos() - done.startNanos(), done.durationNanos());
        assertTrue(recent.get(0).toString().startsWith("#0 allReduce(fp32 × 1009, sum) done in "), recent.get(0)
                .toString());
        assertTrue(recent.get(1).toString().startsWith("#1 send(bf16 × 8, to 3) running for "));
        assertTrue(recent.get(2).toString().startsWith("#2 send(bf16 × 8, to 3) failed after "));
    }

    @Test
    void countsCallsAndBytesPerOperation() {
        CallLog log = new CallLog(2);
        CommStats before = log.stats();
        for (int i = 0; i < 3; i++) {
            log.issue(ALL_REDUCE);
        }
        log.issue(SEND);
        CommStats stats = log.stats();
        assertEquals(3, stats.calls(OpType.ALL_REDUCE));
        assertEquals(3 * 4036, stats.bytes(OpType.ALL_REDUCE));
        assertEquals(16, stats.bytes(OpType.SEND));
        assertEquals(4, stats.totalCalls());
        assertEquals(3 * 4036 + 16, stats.totalBytes());
        assertEquals(stats, stats.minus(before));
        assertEquals(CommStats.empty(), stats.minus(stats));
        assertEquals("""
                allReduce             3 calls          12108 bytes
                send                  1 calls             16 bytes""", stats.toString());
    }

    @Test
    void dumpsTheLastCallsOnePerLine() {
        CallLog log = new CallLog(16);
        for (int i = 0; i < 5; i++) {
            log.finished(log.issue(OpSignature.withoutData(OpType.BARRIER)), true);
        }
        String dump = log.dump(2);
        List<String> lines = dump.lines().toList();
        assertEquals("  (3 earlier calls not shown)", lines.get(0));
        assertTrue(lines.get(1).startsWith("  #3 barrier() done in "), dump);
        assertTrue(lines.get(2).startsWith("  #4 barrier() done in "), dump);
    }

    @Test
    void needsRoomForOneCall() {
        assertThrows(IllegalArgumentException.class, () -> new CallLog(0));
    }
}
