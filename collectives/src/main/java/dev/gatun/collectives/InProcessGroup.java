package dev.gatun.collectives;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The state the ranks of one in-process communicator share: where they meet for each collective, the mailboxes of
 * their sends, and the first failure. One lock and one condition guard it all; every wait is bounded by the
 * timeout, and any failure wakes every waiter at once.
 *
 * <p>A collective is the {@code k}-th collective call of each rank ({@code k} counts per rank, so point-to-point
 * calls between collectives do not shift it). Ranks {@link #arrive} at slot {@code k} with their call; once all have
 * arrived with the same signature each does its share of the data movement and then {@link #depart}s, waiting for
 * the others, so no rank reuses its buffers while a peer still reads or writes them. Sends are
 * {@linkplain #post posted} to the (sender, receiver) mailbox and wait until {@linkplain #receive received}; the
 * receiver copies straight from the sender's buffer.
 */
final class InProcessGroup {
    /** A rank's call as the others see it: {@code payload} is its {@link CommOp} or its split request. */
    record Arrival(int rank, long seq, OpSignature signature, Object payload) {
    }

    /** A posted send. */
    static final class Message {
        final Arrival from;
        final int to;
        final MemorySegment data;
        boolean consumed;

        Message(Arrival from, int to, MemorySegment data) {
            this.from = from;
            this.to = to;
            this.data = data;
        }
    }

    private static final class Slot {
        final Arrival[] arrivals;
        int arrived;
        int departed;
        Failure mismatch;

        Slot(int size) {
            arrivals = new Arrival[size];
        }
    }

    private record ChildKey(long index, int color) {
    }

    final String name;
    final int size;
    final CommOptions options;
    private final InProcessWorld world;
    private final CallLog[] logs;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Map<Long, Slot> slots = new HashMap<>();
    private final List<ArrayDeque<Message>> mailboxes;
    private final Map<ChildKey, InProcessGroup> children = new HashMap<>();
    private Failure failure;

    InProcessGroup(InProcessWorld world, String name, int size, CommOptions options) {
        this.world = world;
        this.name = name;
        this.size = size;
        this.options = options;
        this.logs = new CallLog[size];
        for (int r = 0; r < size; r++) {
            logs[r] = new CallLog(options.logCapacity());
        }
        this.mailboxes = new ArrayList<>(size * size);
        for (int i = 0; i < size * size; i++) {
            mailboxes.add(new ArrayDeque<>());
        }
    }

    /** The call log of rank {@code rank}. */
    CallLog log(int rank) {
        return logs[rank];
    }

    /**
     * Waits until every rank has arrived at collective {@code index} with the same signature as {@code a}, and
     * returns all the arrivals, indexed by rank.
     */
    Arrival[] arrive(long index, Arrival a) {
        lock.lock();
        try {
            requireHealthy(a);
            Slot slot = slots.computeIfAbsent(index, k -> new Slot(size));
            slot.arrivals[a.rank()] = a;
            slot.arrived++;
            if (slot.arrived == size) {
                slot.mismatch = disagreement(index, slot);
                if (slot.mismatch != null) {
                    fail(slot.mismatch);
                }
                changed.signalAll();
            }
            await(a, () -> slot.arrived == size, () -> {
                Failure mismatch = disagreement(index, slot);
                return mismatch != null ? mismatch : arrivalTimeout(index, slot);
            });
            if (slot.mismatch != null) {
                throw raise(slot.mismatch, a, false);
            }
            return slot.arrivals.clone();
        } finally {
            lock.unlock();
        }
    }

    /** Waits until every rank has finished its part of collective {@code index}. */
    void depart(long index, Arrival a) {
        lock.lock();
        try {
            Slot slot = slots.get(index);
            slot.departed++;
            if (slot.departed == size) {
                slots.remove(index);
                changed.signalAll();
            }
            await(a, () -> slot.departed == size, () -> departureTimeout(index, slot));
        } finally {
            lock.unlock();
        }
    }

    /** Posts a send of {@code data} to rank {@code to}; returns at once. */
    Message post(int to, Arrival a, MemorySegment data) {
        lock.lock();
        try {
            requireHealthy(a);
            Message m = new Message(a, to, data);
            mailbox(a.rank(), to).add(m);
            changed.signalAll();
            return m;
        } finally {
            lock.unlock();
        }
    }

    /** Waits until the receiver has copied the message. */
    void awaitConsumed(Message m) {
        lock.lock();
        try {
            await(m.from, () -> m.consumed, () -> new Failure(Failure.Kind.TIMEOUT,
                    "call #" + m.from.seq() + " on '" + name + "' (" + size + " ranks): rank " + m.from.rank()
                            + " timed out after " + timeoutText() + " waiting for rank " + m.to + " to receive "
                            + m.from.signature() + "; arrived: [" + m.from.rank() + "]; not arrived: [" + m.to + "]",
                    List.of(m.from.rank()), List.of(m.to), null));
        } finally {
            lock.unlock();
        }
    }

    /** Waits for the next message from rank {@code from} and copies it into {@code into}. */
    void receive(int from, Arrival a, MemorySegment into) {
        Message m;
        lock.lock();
        try {
            requireHealthy(a);
            ArrayDeque<Message> mailbox = mailbox(from, a.rank());
            await(a, () -> !mailbox.isEmpty(), () -> new Failure(Failure.Kind.TIMEOUT,
                    "call #" + a.seq() + " on '" + name + "' (" + size + " ranks): rank " + a.rank()
                            + " timed out after " + timeoutText() + " waiting for rank " + from + " to send for "
                            + a.signature() + "; arrived: [" + a.rank() + "]; not arrived: [" + from + "]",
                    List.of(a.rank()), List.of(from), null));
            m = mailbox.poll();
            OpSignature sent = m.from.signature();
            if (sent.dtype() != a.signature().dtype() || sent.count() != a.signature().count()) {
                Failure f = new Failure(Failure.Kind.MISMATCH,
                        "point-to-point mismatch on '" + name + "' (" + size + " ranks): rank " + a.rank()
                                + " called " + a.signature() + " (call #" + a.seq() + ") but rank " + from
                                + " sent " + sent + " (call #" + m.from.seq()
                                + "): a send and its recv must have the same dtype and count",
                        List.of(from, a.rank()), List.of(), null);
                fail(f);
                throw raise(f, a, false);
            }
        } finally {
            lock.unlock();
        }
        try {
            MemorySegment.copy(m.data, 0, into, 0, into.byteSize());
        } catch (RuntimeException | Error e) {
            fail(Failure.aborted("rank " + a.rank() + " of '" + name + "' failed copying " + m.from.signature()
                    + " from rank " + from + " in its call #" + a.seq() + ": " + e, e));
            throw e;
        }
        lock.lock();
        try {
            m.consumed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The communicator for color {@code color} of the split made by collective {@code index}, made once. */
    InProcessGroup child(long index, int color, String childName, int childSize) {
        lock.lock();
        try {
            return children.computeIfAbsent(new ChildKey(index, color),
                    k -> world.newGroup(childName, childSize, options));
        } finally {
            lock.unlock();
        }
    }

    /** Records {@code f} unless a failure came first, and wakes every waiter. */
    void fail(Failure f) {
        lock.lock();
        try {
            if (failure == null) {
                failure = f;
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The exception rank {@code a.rank()} throws for failure {@code f}. */
    CollectiveException raise(Failure f, Arrival a, boolean earlier) {
        return f.raise(name, a.rank(), a.seq(), a.signature(), logs[a.rank()], earlier);
    }

    private void requireHealthy(Arrival a) {
        if (failure != null) {
            throw raise(failure, a, true);
        }
    }

    /** Waits (holding the lock) until {@code ready}; fails everyone on timeout; throws on any failure. */
    private void await(Arrival a, BooleanSupplier ready, Supplier<Failure> onTimeout) {
        long remaining = options.timeout().toNanos();
        while (!ready.getAsBoolean()) {
            if (failure != null) {
                throw raise(failure, a, false);
            }
            if (remaining <= 0) {
                fail(onTimeout.get());
                throw raise(failure, a, false);
            }
            try {
                remaining = changed.awaitNanos(remaining);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail(Failure.aborted("rank " + a.rank() + " of '" + name + "' was interrupted while in call #"
                        + a.seq() + " " + a.signature(), e));
            }
        }
    }

    private ArrayDeque<Message> mailbox(int from, int to) {
        return mailboxes.get(from * size + to);
    }

    /** The mismatch among the ranks arrived at {@code slot}, or {@code null} when they agree. */
    private Failure disagreement(long index, Slot slot) {
        Map<OpSignature, List<Integer>> bySignature = new LinkedHashMap<>();
        for (Arrival a : slot.arrivals) {
            if (a != null) {
                bySignature.computeIfAbsent(a.signature(), k -> new ArrayList<>()).add(a.rank());
            }
        }
        if (bySignature.size() < 2) {
            return null;
        }
        OpSignature expected = null;
        for (Map.Entry<OpSignature, List<Integer>> e : bySignature.entrySet()) {
            if (expected == null || e.getValue().size() > bySignature.get(expected).size()) {
                expected = e.getKey();
            }
        }
        List<String> seen = new ArrayList<>();
        for (Map.Entry<OpSignature, List<Integer>> e : bySignature.entrySet()) {
            if (!e.getKey().equals(expected)) {
                seen.add(ranksText(e.getValue()) + " called " + e.getKey());
            }
        }
        return new Failure(Failure.Kind.MISMATCH,
                "collective #" + index + " on '" + name + "' (" + size + " ranks): the ranks called different "
                        + "operations: expected " + expected + " (called by " + ranksText(bySignature.get(expected))
                        + "), but " + String.join("; ", seen) + arrivalText(slot)
                        + "\n" + table(slot, expected),
                arrived(slot), missing(slot), null);
    }

    private Failure arrivalTimeout(long index, Slot slot) {
        OpSignature expected = null;
        for (Arrival a : slot.arrivals) {
            if (a != null && expected == null) {
                expected = a.signature();
            }
        }
        return new Failure(Failure.Kind.TIMEOUT,
                "collective #" + index + " on '" + name + "' (" + size + " ranks): timed out after " + timeoutText()
                        + " waiting for every rank to call " + expected + arrivalText(slot) + "\n"
                        + table(slot, expected),
                arrived(slot), missing(slot), null);
    }

    private Failure departureTimeout(long index, Slot slot) {
        return new Failure(Failure.Kind.TIMEOUT,
                "collective #" + index + " on '" + name + "' (" + size + " ranks): timed out after " + timeoutText()
                        + " waiting for every rank to finish its part; " + slot.departed + " of " + size
                        + " finished",
                arrived(slot), List.of(), null);
    }

    private String arrivalText(Slot slot) {
        List<Integer> missing = missing(slot);
        return "; arrived: " + arrived(slot) + "; not arrived: " + (missing.isEmpty() ? "none" : missing);
    }

    /** One line per rank: its call, marked where it differs from {@code expected} or is missing. */
    private static String table(Slot slot, OpSignature expected) {
        StringBuilder s = new StringBuilder();
        for (int r = 0; r < slot.arrivals.length; r++) {
            Arrival a = slot.arrivals[r];
            s.append("  rank ").append(r);
            if (a == null) {
                s.append(": not arrived   <-- missing");
            } else {
                s.append(", call #").append(a.seq()).append(": ").append(a.signature());
                if (!a.signature().equals(expected)) {
                    s.append("   <-- differs");
                }
            }
            s.append('\n');
        }
        return s.toString().stripTrailing();
    }

    private static List<Integer> arrived(Slot slot) {
        List<Integer> out = new ArrayList<>();
        for (int r = 0; r < slot.arrivals.length; r++) {
            if (slot.arrivals[r] != null) {
                out.add(r);
            }
        }
        return out;
    }

    private static List<Integer> missing(Slot slot) {
        List<Integer> out = new ArrayList<>();
        for (int r = 0; r < slot.arrivals.length; r++) {
            if (slot.arrivals[r] == null) {
                out.add(r);
            }
        }
        return out;
    }

    private static String ranksText(List<Integer> ranks) {
        return ranks.size() == 1 ? "rank " + ranks.get(0) : "ranks " + ranks;
    }

    private String timeoutText() {
        return CallRecord.formatNanos(options.timeout().toNanos());
    }
}
