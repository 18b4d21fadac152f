package dev.gatun.collectives;

import java.util.ArrayList;
import java.util.List;

/**
 * The calls of one rank on one communicator: a bounded ring of the most recent {@link CallRecord}s and the counts
 * behind {@link CommStats}. Backends {@link #issue} each call when it is made (that assigns its sequence number),
 * mark it {@link #started} and {@link #finished}. Thread-safe: the rank's thread issues, a communication thread
 * may start and finish.
 */
public final class CallLog {
    /** Records kept by default. */
    public static final int DEFAULT_CAPACITY = 256;

    private final CallRecord[] ring;
    private final long[] calls = new long[OpType.values().length];
    private final long[] bytes = new long[OpType.values().length];
    private long next;

    /** A log that keeps the last {@code capacity} calls. */
    public CallLog(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("call log capacity must be >= 1, got " + capacity);
        }
        this.ring = new CallRecord[capacity];
    }

    /** Records a new call as queued, counts it, and returns its sequence number. */
    public synchronized long issue(OpSignature call) {
        long seq = next++;
        ring[slot(seq)] = new CallRecord(seq, call, CallRecord.State.QUEUED, System.nanoTime(), 0, 0);
        CommStats.count(calls, bytes, call);
        return seq;
    }

    /** Marks call {@code seq} as running (if it is still in the ring). */
    public synchronized void started(long seq) {
        CallRecord r = find(seq);
        if (r != null && r.state() == CallRecord.State.QUEUED) {
            ring[slot(seq)] = new CallRecord(seq, r.call(), CallRecord.State.RUNNING, r.issuedNanos(),
                    System.nanoTime(), 0);
        }
    }

    /** Marks call {@code seq} as done or failed, unless it has already finished. */
    public synchronized void finished(long seq, boolean ok) {
        CallRecord r = find(seq);
        if (r == null || r.state() == CallRecord.State.DONE || r.state() == CallRecord.State.FAILED) {
            return;
        }
        long now = System.nanoTime();
        ring[slot(seq)] = new CallRecord(seq, r.call(), ok ? CallRecord.State.DONE : CallRecord.State.FAILED,
                r.issuedNanos(), r.startNanos() != 0 ? r.startNanos() : now, now);
    }

    /** The number of calls issued so far (the next sequence number). */
    public synchronized long issued() {
        return next;
    }

    /** The recorded calls still in the ring, oldest first. */
    public synchronized List<CallRecord> recent() {
        List<CallRecord> out = new ArrayList<>();
        for (long seq = Math.max(0, next - ring.length); seq < next; seq++) {
            out.add(ring[slot(seq)]);
        }
        return out;
    }

    /** The counts so far. */
    public synchronized CommStats stats() {
        return new CommStats(calls, bytes);
    }

    /** The last {@code max} calls, one per line, indented: the tail of a failure message. */
    public String dump(int max) {
        List<CallRecord> recent = recent();
        List<CallRecord> shown = recent.subList(Math.max(0, recent.size() - max), recent.size());
        StringBuilder s = new StringBuilder();
        if (shown.size() < issued()) {
            s.append("  (").append(issued() - shown.size()).append(" earlier calls not shown)\n");
        }
        for (CallRecord r : shown) {
            s.append("  ").append(r).append('\n');
        }
        return s.toString().stripTrailing();
    }

    private CallRecord find(long seq) {
        CallRecord r = ring[slot(seq)];
        return r != null && r.seq() == seq ? r : null;
    }

    private int slot(long seq) {
        return (int) (seq % ring.length);
    }
}
