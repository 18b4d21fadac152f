package dev.gatun.memory;

import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The live allocations of an allocator, by id, with owner, category and size, so that closing the allocator can
 * name what was never freed ({@link #checkNoLeaks}).
 *
 * <p>In debug mode the ledger also records each allocation's site: the innermost {@value #SITE_FRAMES} frames of the
 * allocating thread's stack from where the caller allocated (the allocators' and tensors' own frames left out).
 * That costs a stack walk per allocation, so it is opt-in: by constructor argument, or for allocators built with
 * defaults by the system property
 * {@value #RECORD_SITES_PROPERTY}{@code =true} (see {@link #recordSitesRequested()}).
 *
 * <p>Thread-safe.
 */
public final class AllocationLedger {
    /** System property that turns on allocation-site recording for allocators built with defaults. */
    public static final String RECORD_SITES_PROPERTY = "gatun.memory.debug";
    /** How many stack frames a recorded site keeps. */
    public static final int SITE_FRAMES = 16;

    private static final StackWalker WALKER = StackWalker.getInstance();

    private final boolean recordSites;
    private final AtomicLong nextId = new AtomicLong(1);
    private final ConcurrentHashMap<Long, LiveAllocation> live = new ConcurrentHashMap<>();

    /** A ledger that records allocation sites when {@code recordSites} is true. */
    public AllocationLedger(boolean recordSites) {
        this.recordSites = recordSites;
    }

    /** Whether the system property {@value #RECORD_SITES_PROPERTY} asks for allocation sites. */
    public static boolean recordSitesRequested() {
        return Boolean.getBoolean(RECORD_SITES_PROPERTY);
    }

    /** Whether this ledger records allocation sites. */
    public boolean recordsSites() {
        return recordSites;
    }

    /**
     * Enters a new live allocation.
     *
     * @return its id, to pass to {@link #remove} when it is freed
     */
    public long add(String owner, MemoryCategory category, long bytes) {
        List<StackTraceElement> site = recordSites ? callerFrames() : List.of();
        long id = nextId.getAndIncrement();
        live.put(id, new LiveAllocation(id, owner, category, bytes, site));
        return id;
    }

    /**
     * Removes a live allocation once it is freed.
     *
     * @return the allocation removed
     * @throws IllegalStateException when no live allocation has this id
     */
    public LiveAllocation remove(long id) {
        LiveAllocation removed = live.remove(id);
        if (removed == null) {
            throw new IllegalStateException("no live allocation #" + id + ": it was never added or already removed");
        }
        return removed;
    }

    /** The live allocations, in allocation order. */
    public List<LiveAllocation> live() {
        return live.values().stream().sorted(Comparator.comparingLong(LiveAllocation::id)).toList();
    }

    /**
     * Checks that nothing is live, as its holder closes.
     *
     * @param holder names the closing allocator in the exception message, e.g. {@code "HostAllocator"}
     * @throws MemoryLeakException naming the leaked bytes and each live allocation
     */
    public void checkNoLeaks(String holder) {
        Objects.requireNonNull(holder, "holder must not be null");
        List<LiveAllocation> leaks = live();
        if (!leaks.isEmpty()) {
            throw new MemoryLeakException(holder, leaks);
        }
    }

    /** The allocation machinery, whose frames a site leaves out so that it starts where the caller allocated. */
    private static final java.util.Set<String> MACHINERY = java.util.Set.of(AllocationLedger.class.getName(),
            Accountant.class.getName(), HostAllocator.class.getName(), CachingDeviceAllocator.class.getName(),
            Tensor.class.getName(), TensorAllocator.class.getName(), Storage.class.getName(),
            HostBuffer.class.getName(), DeviceBuffer.class.getName());

    private static boolean machinery(StackWalker.StackFrame frame) {
        String c = frame.getClassName();
        int nested = c.indexOf('$');
        return MACHINERY.contains(nested < 0 ? c : c.substring(0, nested));
    }

    private static List<StackTraceElement> callerFrames() {
        return WALKER.walk(frames -> frames
                .dropWhile(AllocationLedger::machinery)
                .limit(SITE_FRAMES)
                .map(StackWalker.StackFrame::toStackTraceElement)
                .toList());
    }
}
