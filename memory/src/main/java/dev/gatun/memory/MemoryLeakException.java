package dev.gatun.memory;

import java.util.List;

/**
 * Thrown when an allocator closes while allocations are still live. The message gives the leaked bytes and, for
 * each live allocation in allocation order, its owner, category and size, plus its allocation site when the
 * ledger recorded sites.
 */
public final class MemoryLeakException extends RuntimeException {
    /** Allocations listed in the message; the rest are summed in one line. */
    static final int LISTED = 20;

    private final List<LiveAllocation> leaks;
    private final long leakedBytes;

    /**
     * @param holder names the allocator that closed, e.g. {@code "HostAllocator"}
     * @param leaks  the live allocations, at least one
     */
    public MemoryLeakException(String holder, List<LiveAllocation> leaks) {
        this(holder, List.copyOf(leaks), leaks.stream().mapToLong(LiveAllocation::bytes).sum());
    }

    private MemoryLeakException(String holder, List<LiveAllocation> leaks, long leakedBytes) {
        super(message(holder, leaks, leakedBytes));
        this.leaks = leaks;
        this.leakedBytes = leakedBytes;
    }

    /** The allocations that were live when the allocator closed, in allocation order. */
    public List<LiveAllocation> leaks() {
        return leaks;
    }

    /** Total size of the leaked allocations. */
    public long leakedBytes() {
        return leakedBytes;
    }

    private static String message(String holder, List<LiveAllocation> leaks, long leakedBytes) {
        if (leaks.isEmpty()) {
            throw new IllegalArgumentException("a leak report needs at least one live allocation");
        }
        StringBuilder text = new StringBuilder()
                .append(holder).append(" closed with ").append(leaks.size())
                .append(leaks.size() == 1 ? " live allocation" : " live allocations")
                .append(" holding ").append(leakedBytes).append(" bytes (").append(ByteSize.format(leakedBytes))
                .append("):");
        for (LiveAllocation leak : leaks.subList(0, Math.min(LISTED, leaks.size()))) {
            text.append("\n  #").append(leak.id()).append(" owner '").append(leak.owner()).append("' ")
                    .append(leak.category().label()).append(' ').append(leak.bytes()).append(" bytes (")
                    .append(ByteSize.format(leak.bytes())).append(')');
            for (StackTraceElement frame : leak.site()) {
                text.append("\n      at ").append(frame);
            }
        }
        if (leaks.size() > LISTED) {
            List<LiveAllocation> rest = leaks.subList(LISTED, leaks.size());
            long restBytes = rest.stream().mapToLong(LiveAllocation::bytes).sum();
            text.append("\n  ... and ").append(rest.size()).append(" more holding ").append(restBytes)
                    .append(" bytes (").append(ByteSize.format(restBytes)).append(')');
        }
        return text.toString();
    }
}
