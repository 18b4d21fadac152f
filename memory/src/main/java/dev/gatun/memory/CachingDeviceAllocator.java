package dev.gatun.memory;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.TreeSet;

/**
 * A caching device allocator in the spirit of PyTorch's: memory is taken from the device in segments and handed out
 * as blocks; freed blocks stay cached for reuse, so steady-state training does no {@code cudaMalloc}/{@code cudaFree}
 * and never synchronises on free.
 *
 * <ul>
 *   <li>Sizes round up to 512 B. Requests up to 1 MiB come from the small pool (2 MiB segments), larger ones from
 *       the large pool (20 MiB segments below 10 MiB, else the size rounded up to 2 MiB).</li>
 *   <li>A block larger than the request is split (the rest stays cached: ≥ 512 B in the small pool, > 1 MiB in the
 *       large one); freed neighbours in a segment coalesce.</li>
 *   <li>Reuse is keyed by stream: a cached block goes only to its own stream, whose order makes reuse safe. A block
 *       also used on other streams ({@link DeviceBuffer#recordStream}) records an event on each when freed and
 *       returns to the cache only once those events complete, checked on later allocations.</li>
 *   <li>When the device is out of memory the allocator releases every fully free cached segment and retries once,
 *       then throws {@link DeviceOutOfMemoryException} with the request, the device's free/total and its own
 *       state by category.</li>
 * </ul>
 * Accounting goes to an {@link Accountant}: in-use bytes by category (block sizes) and reserved bytes (segments).
 * Closing with live buffers throws {@link MemoryLeakException} naming their owners.
 */
public final class CachingDeviceAllocator implements TensorAllocator {
    static final long ROUND = 512;
    static final long SMALL_REQUEST = 1L << 20;
    static final long SMALL_SEGMENT = 2L << 20;
    static final long LARGE_SEGMENT = 20L << 20;
    static final long LARGE_DIRECT = 10L << 20;
    static final long LARGE_ROUND = 2L << 20;

    private final DeviceMemory memory;
    private final Accountant accountant;
    private final AllocationLedger ledger;
    private final Object lock = new Object();
    private final TreeSet<Block> smallCache = new TreeSet<>(Block.ORDER);
    private final TreeSet<Block> largeCache = new TreeSet<>(Block.ORDER);
    private final List<Block> awaitingEvents = new ArrayList<>();
    private final Map<DeviceStream, Integer> streamIds = new IdentityHashMap<>();
    private long segmentCount;
    private boolean closed;

    /** A block of a segment: free (cached or awaiting events) or allocated. */
    static final class Block {
        static final Comparator<Block> ORDER = Comparator.<Block>comparingInt(b -> b.streamId)
                .thenComparingLong(b -> b.size).thenComparingLong(b -> b.address);

        final boolean small;
        final long segmentSize;
        final DeviceStream stream;
        final int streamId;
        long address;
        long size;
        Block prev;
        Block next;
        boolean allocated;
        final List<DeviceStream> otherStreams = new ArrayList<>();
        final List<DeviceEvent> events = new ArrayList<>();

        Block(boolean small, long segmentSize, DeviceStream stream, int streamId, long address, long size) {
            this.small = small;
            this.segmentSize = segmentSize;
            this.stream = stream;
            this.streamId = streamId;
            this.address = address;
            this.size = size;
        }

        boolean wholeSegment() {
            return prev == null && next == null;
        }
    }

    /** An allocator over {@code memory}, booking into {@code accountant}; records allocation sites if asked. */
    public CachingDeviceAllocator(DeviceMemory memory, Accountant accountant, boolean recordAllocationSites) {
        this.memory = Objects.requireNonNull(memory, "memory must not be null");
        this.accountant = Objects.requireNonNull(accountant, "accountant must not be null");
        this.ledger = new AllocationLedger(recordAllocationSites);
    }

    /** An allocator over CUDA device {@code device}, with its own accountant; debug sites per {@code gatun.memory.debug}. */
    public static CachingDeviceAllocator cuda(Device device) {
        return new CachingDeviceAllocator(DeviceMemory.cuda(device), new Accountant(),
                AllocationLedger.recordSitesRequested());
    }

    /** The device. */
    @Override
    public Device device() {
        return memory.device();
    }

    /** The accountant this allocator books into. */
    @Override
    public Accountant accountant() {
        return accountant;
    }

    /** The live buffers. */
    public List<LiveAllocation> liveAllocations() {
        return ledger.live();
    }

    static long roundSize(long bytes) {
        return Math.max(ROUND, (bytes + ROUND - 1) / ROUND * ROUND);
    }

    static long segmentSize(long rounded) {
        if (rounded <= SMALL_REQUEST) {
            return SMALL_SEGMENT;
        }
        if (rounded < LARGE_DIRECT) {
            return LARGE_SEGMENT;
        }
        return (rounded + LARGE_ROUND - 1) / LARGE_ROUND * LARGE_ROUND;
    }

    /**
     * Allocates at least {@code bytes} for use on {@code stream}.
     *
     * @throws DeviceOutOfMemoryException when the device cannot supply it even after the cache is released
     */
    @Override
    public DeviceBuffer allocate(MemoryCategory category, String owner, long bytes, DeviceStream stream) {
        Objects.requireNonNull(category, "category must not be null");
        Objects.requireNonNull(stream, "stream must not be null");
        if (owner == null || owner.isBlank()) {
            throw new IllegalArgumentException("owner must name who holds the buffer, got '" + owner + "'");
        }
        if (bytes <= 0) {
            throw new IllegalArgumentException("bytes must be > 0, got " + bytes + " (owner '" + owner + "')");
        }
        if (!stream.device().equals(device())) {
            throw new IllegalArgumentException("stream is on " + stream.device() + ", allocator on " + device());
        }
        long size = roundSize(bytes);
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("allocator for " + device() + " is closed");
            }
            processEvents();
            boolean small = size <= SMALL_REQUEST;
            TreeSet<Block> cache = cacheOf(small);
            int streamId = streamIds.computeIfAbsent(stream, s -> streamIds.size());
            Block block = cache.ceiling(new Block(small, 0, stream, streamId, 0, size));
            if (block != null && block.streamId == streamId) {
                cache.remove(block);
            } else {
                block = newSegment(small, size, stream, streamId, category, owner);
            }
            long rest = block.size - size;
            if (small ? rest >= ROUND : rest > SMALL_REQUEST) {
                Block tail = new Block(small, block.segmentSize, stream, streamId, block.address + size, rest);
                tail.prev = block;
                tail.next = block.next;
                if (block.next != null) {
                    block.next.prev = tail;
                }
                block.next = tail;
                block.size = size;
                cache.add(tail);
            }
            block.allocated = true;
            Block allocated = block;
            accountant.allocate(category, block.size, () -> allocated);
            long id = ledger.add(owner, category, block.size);
            return new DeviceBuffer(this, block, bytes, owner, category, id);
        }
    }

    private Block newSegment(boolean small, long size, DeviceStream stream, int streamId, MemoryCategory category,
                             String owner) {
        long segment = segmentSize(size);
        OptionalLong address = memory.malloc(segment);
        if (address.isEmpty()) {
            releaseCachedSegments();
            address = memory.malloc(segment);
        }
        if (address.isEmpty()) {
            throw new DeviceOutOfMemoryException(outOfMemoryMessage(size, segment, category, owner), segment);
        }
        long base = address.getAsLong();
        accountant.reserve(segment, () -> base);
        segmentCount++;
        return new Block(small, segment, stream, streamId, base, segment);
    }

    private String outOfMemoryMessage(long size, long segment, MemoryCategory category, String owner) {
        return "out of memory on " + device() + ": tried to allocate " + ByteSize.format(size) + " for '" + owner
                + "' (" + category.label() + ") in a new segment of " + ByteSize.format(segment) + "; the device has "
                + ByteSize.format(memory.freeBytes()) + " free of " + ByteSize.format(memory.totalBytes())
                + "; this allocator holds " + segmentCount + " segment(s), after releasing its cache:\n"
                + accountant.report();
    }

    void recordStream(DeviceBuffer buffer, DeviceStream stream) {
        Objects.requireNonNull(stream, "stream must not be null");
        synchronized (lock) {
            Block block = buffer.block;
            if (stream != block.stream && block.otherStreams.stream().noneMatch(s -> s == stream)) {
                block.otherStreams.add(stream);
            }
        }
    }

    void free(DeviceBuffer buffer) {
        if (!buffer.markFreed()) {
            throw new IllegalStateException("buffer already freed: " + buffer.owner());
        }
        synchronized (lock) {
            Block block = buffer.block;
            ledger.remove(buffer.ledgerId);
            accountant.free(buffer.category(), block.size);
            block.allocated = false;
            if (block.otherStreams.isEmpty()) {
                cache(block);
            } else {
                for (DeviceStream other : block.otherStreams) {
                    block.events.add(other.record());
                }
                block.otherStreams.clear();
                awaitingEvents.add(block);
            }
        }
    }

    /** Returns blocks whose other-stream events have completed to the cache. */
    private void processEvents() {
        for (Iterator<Block> it = awaitingEvents.iterator(); it.hasNext(); ) {
            Block block = it.next();
            if (block.events.stream().allMatch(DeviceEvent::isComplete)) {
                block.events.forEach(DeviceEvent::close);
                block.events.clear();
                it.remove();
                cache(block);
            }
        }
    }

    private boolean isCached(Block b) {
        return b != null && !b.allocated && b.events.isEmpty();
    }

    /** Puts a free block in its pool's cache, merged with free neighbours. */
    private void cache(Block block) {
        TreeSet<Block> cache = cacheOf(block.small);
        if (isCached(block.prev)) {
            cache.remove(block.prev);
            block = absorbNext(block.prev);
        }
        if (isCached(block.next)) {
            cache.remove(block.next);
            absorbNext(block);
        }
        cache.add(block);
    }

    /** Merges {@code block.next} into {@code block} (adjacent blocks of one segment) and returns {@code block}. */
    private static Block absorbNext(Block block) {
        Block next = block.next;
        block.size += next.size;
        block.next = next.next;
        if (next.next != null) {
            next.next.prev = block;
        }
        return block;
    }

    private TreeSet<Block> cacheOf(boolean small) {
        return small ? smallCache : largeCache;
    }

    /** Gives every fully free cached segment back to the device. Never touches live buffers. */
    public void emptyCache() {
        synchronized (lock) {
            processEvents();
            releaseCachedSegments();
        }
    }

    private void releaseCachedSegments() {
        for (TreeSet<Block> cache : List.of(smallCache, largeCache)) {
            for (Iterator<Block> it = cache.iterator(); it.hasNext(); ) {
                Block block = it.next();
                if (block.wholeSegment()) {
                    it.remove();
                    memory.free(block.address);
                    accountant.release(block.segmentSize);
                    segmentCount--;
                }
            }
        }
    }

    /** Segments currently held from the device. */
    public long segmentCount() {
        synchronized (lock) {
            return segmentCount;
        }
    }

    /** Current and peak bytes in use by category, and reserved. */
    public MemoryReport report() {
        return accountant.report();
    }

    /**
     * Checks for leaks, then waits for pending cross-stream events and gives all memory back.
     *
     * @throws MemoryLeakException when buffers are still live (their memory stays allocated)
     */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            ledger.checkNoLeaks("CachingDeviceAllocator(" + device() + ")");
            closed = true;
            for (Block block : awaitingEvents) {
                block.events.forEach(DeviceEvent::synchronize);
            }
            processEvents();
            releaseCachedSegments();
        }
    }
}
