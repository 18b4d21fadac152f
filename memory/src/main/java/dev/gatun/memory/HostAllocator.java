package dev.gatun.memory;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Host (off-heap) memory, {@value #ALIGNMENT}-byte aligned and zero-filled, every buffer booked with an
 * {@link Accountant} (in use under its category, and reserved: memory held from the system) and entered in an
 * {@link AllocationLedger}.
 *
 * <p>Pageable memory comes from the C library's {@code calloc} ({@link LibC}): a large block is fresh pages that the
 * kernel zeroes, so it is not filled a second time before its owner overwrites it. Segments are shared (any thread
 * may use them). A plain allocator gives each {@link HostBuffer} its own shared arena, so closing the buffer makes
 * every segment of it inaccessible at once.
 *
 * <p>A {@linkplain #caching caching} allocator keeps closed blocks and hands them out again, zero-filled, for a
 * request of the same size: a training step allocates the same activations every step, and a fresh block costs a
 * page fault and a kernel zeroing per 4 KiB page (the logits of GPT-2 at 256 tokens, 51 MiB, took about 30 ms each
 * time). Cached blocks are reserved, not in use. The cache never holds the allocator above the peak in use it has
 * already reached: before a new block is taken, cached blocks are freed until in use + cached + the request fits
 * under that peak (or the request itself raises it). {@link #trim()} frees the cache.
 *
 * <p>A caching allocator's arenas belong to its blocks, not to its buffers: closing a shared arena is a handshake
 * with every Java thread (measured 35 µs with the other threads idle, 110 µs with one busy, on a 2-core Zen 5), and
 * a training step allocates and closes a few hundred buffers (75 in the tiny GPT preset's step, whose time that
 * took from 4-5 ms to 8-9 ms). So closing a buffer is bookkeeping: {@link HostBuffer#segment()} throws afterwards,
 * but a segment taken from it earlier stays usable until its block is freed to the system (then it fails; it never
 * reaches unmapped memory), and it sees the block's next owner's data once the block is handed out again. Code must
 * not keep a buffer's segment past its close (no kernel or collective here does). With allocation sites recorded
 * ({@value AllocationLedger#RECORD_SITES_PROPERTY}{@code =true}, the debugging mode) every buffer gets its own arena
 * again, so such a segment fails at the first access after the close.
 *
 * <p>Closing the allocator while buffers are live throws a {@link MemoryLeakException} naming them; the leaked
 * buffers stay valid until they are closed. After {@link #close()} no new buffers are handed out.
 *
 * <p>A {@linkplain #pinned pinned} allocator takes page-locked memory from {@code cudaMallocHost} instead (page
 * aligned, zero-filled here, returned with {@code cudaFreeHost} when its buffer closes, never cached): the staging
 * memory for asynchronous copies to and from a device.
 *
 * <p>{@link #allocate} and a buffer's {@code close()} are thread-safe; closing the allocator while another thread
 * allocates is not supported.
 */
public final class HostAllocator implements TensorAllocator {
    /** Alignment of every buffer, in bytes: a cache line, and enough for any vector load. */
    public static final long ALIGNMENT = 64;
    /** Blocks of at least this many bytes (8 MiB) ask for transparent huge pages ({@link LibC#adviseHugePages}). */
    private static final long HUGE_PAGES_FROM = 8L << 20;

    private final Accountant accountant;
    private final AllocationLedger ledger;
    private final boolean pinned;
    private final boolean caching;
    /** Whether every buffer has its own arena, closed with it (else a caching allocator's blocks have the arenas). */
    private final boolean arenaPerBuffer;
    /** Closed blocks by size, and the counters of the caching rule; guarded by itself. */
    private final Map<Long, ArrayDeque<Block>> cache = new HashMap<>();
    private long cachedBytes;
    private long inUseBytes;
    private long peakInUseBytes;
    private volatile boolean closed;

    /**
     * Memory from {@code calloc}: its address as returned, to free, and where the aligned buffer starts; without an
     * arena per buffer also the block's own arena and its view in it, which every buffer of the block hands out.
     */
    record Block(MemorySegment base, long address, long bytes, Arena arena, MemorySegment view) {
    }

    /**
     * An allocator with its own accountant, recording allocation sites when the system property
     * {@value AllocationLedger#RECORD_SITES_PROPERTY} is {@code true}.
     */
    public HostAllocator() {
        this(new Accountant(), AllocationLedger.recordSitesRequested());
    }

    /**
     * An allocator that books with {@code accountant} (which others may share) and records allocation sites when
     * {@code recordAllocationSites} is true.
     */
    public HostAllocator(Accountant accountant, boolean recordAllocationSites) {
        this(accountant, recordAllocationSites, false, false);
    }

    private HostAllocator(Accountant accountant, boolean recordAllocationSites, boolean pinned, boolean caching) {
        this.accountant = Objects.requireNonNull(accountant, "accountant must not be null");
        this.ledger = new AllocationLedger(recordAllocationSites);
        this.pinned = pinned;
        this.caching = caching;
        this.arenaPerBuffer = !caching || recordAllocationSites;
    }

    /**
     * A caching allocator of pageable memory that books with {@code accountant}: closed blocks are kept for the next
     * request of their size (see the class comment for the bound on what it keeps, and for what a segment kept past
     * its buffer's close sees; {@code recordAllocationSites} also gives every buffer its own arena).
     */
    public static HostAllocator caching(Accountant accountant, boolean recordAllocationSites) {
        return new HostAllocator(accountant, recordAllocationSites, false, true);
    }

    /** A caching allocator with its own accountant (allocation sites as {@link #HostAllocator()} says). */
    public static HostAllocator caching() {
        return caching(new Accountant(), AllocationLedger.recordSitesRequested());
    }

    /**
     * An allocator of pinned (page-locked) host memory from {@code cudaMallocHost}, booking with {@code accountant}.
     * Allocating needs the CUDA runtime and a device; without them {@link #allocate} throws the runtime's
     * {@link dev.gatun.bindings.CudaException} and books nothing.
     */
    public static HostAllocator pinned(Accountant accountant, boolean recordAllocationSites) {
        return new HostAllocator(accountant, recordAllocationSites, true, false);
    }

    /** Whether closed buffers are kept for reuse. */
    public boolean isCaching() {
        return caching;
    }

    /** Whether this allocator hands out pinned memory. */
    public boolean isPinned() {
        return pinned;
    }

    /** {@link Device#CPU}. */
    @Override
    public Device device() {
        return Device.CPU;
    }

    /** {@link #allocate(MemoryCategory, String, long)}: host memory is not stream-ordered. */
    @Override
    public HostBuffer allocate(MemoryCategory category, String owner, long bytes, DeviceStream stream) {
        return allocate(category, owner, bytes);
    }

    /**
     * A new zero-filled buffer of {@code bytes} bytes.
     *
     * @param category what the buffer holds
     * @param owner    who holds it, named in leak reports, e.g. {@code "layer0.attn.qkv.weight"}
     * @throws IllegalArgumentException when {@code bytes} is not positive or {@code owner} is blank
     * @throws IllegalStateException    when the allocator is closed
     * @throws OutOfMemoryError         when the system has no memory for it (nothing is booked)
     */
    public HostBuffer allocate(MemoryCategory category, String owner, long bytes) {
        Objects.requireNonNull(category, "category must not be null");
        Objects.requireNonNull(owner, "owner must not be null");
        if (owner.isBlank()) {
            throw new IllegalArgumentException("owner must not be blank: name who holds the buffer");
        }
        if (bytes <= 0) {
            throw new IllegalArgumentException("bytes must be > 0, got " + bytes + " (owner '" + owner + "')");
        }
        if (closed) {
            throw new IllegalStateException("HostAllocator is closed: cannot allocate " + bytes + " bytes for '"
                    + owner + "'");
        }
        // Booking comes last, so a failure before it has only the ledger entry and the arena to undo.
        long id = ledger.add(owner, category, bytes);
        Arena arena = arenaPerBuffer ? Arena.ofShared() : null;
        boolean ok = false;
        try {
            if (pinned) {
                MemorySegment segment = accountant.reserve(bytes,
                        () -> accountant.allocate(category, bytes, () -> pinnedMemory(arena, bytes)));
                ok = true;
                return new HostBuffer(this, id, arena, segment, category, owner, null);
            }
            Block cached = cachedBlock(bytes);
            Block block = cached != null ? accountant.allocate(category, bytes, () -> cached)
                    : accountant.reserve(bytes, () -> accountant.allocate(category, bytes, () -> newBlock(bytes)));
            MemorySegment segment = arena != null ? view(block.address(), bytes, arena) : block.view();
            if (cached != null) {
                segment.fill((byte) 0);
            }
            ok = true;
            return new HostBuffer(this, id, arena, segment, category, owner, block);
        } finally {
            if (!ok) {
                if (arena != null) {
                    arena.close();
                }
                ledger.remove(id);
            }
        }
    }

    private static MemorySegment view(long address, long bytes, Arena arena) {
        return MemorySegment.ofAddress(address).reinterpret(bytes, arena, null);
    }

    /** A cached block of exactly {@code bytes}, booked in use, or null (then in use is booked by {@link #newBlock}). */
    private Block cachedBlock(long bytes) {
        if (!caching) {
            return null;
        }
        synchronized (cache) {
            ArrayDeque<Block> blocks = cache.get(bytes);
            Block block = blocks == null ? null : blocks.pollLast();
            if (block == null) {
                return null;
            }
            cachedBytes -= bytes;
            inUse(bytes);
            return block;
        }
    }

    /** A new block from calloc, after freeing what the cache must give up for it. */
    private Block newBlock(long bytes) {
        if (caching) {
            synchronized (cache) {
                long limit = Math.max(peakInUseBytes, inUseBytes + bytes);
                Iterator<ArrayDeque<Block>> bins = cache.values().iterator();
                while (inUseBytes + cachedBytes + bytes > limit && bins.hasNext()) {
                    ArrayDeque<Block> bin = bins.next();
                    while (!bin.isEmpty() && inUseBytes + cachedBytes + bytes > limit) {
                        release(bin.pollLast());
                    }
                    if (bin.isEmpty()) {
                        bins.remove();
                    }
                }
            }
        }
        MemorySegment base = LibC.calloc(bytes + ALIGNMENT - 1);
        long address = (base.address() + ALIGNMENT - 1) & -ALIGNMENT;
        if (bytes >= HUGE_PAGES_FROM) {
            LibC.adviseHugePages(address, bytes);
        }
        if (caching) {
            synchronized (cache) {
                inUse(bytes);
            }
        }
        if (arenaPerBuffer) {
            return new Block(base, address, bytes, null, null);
        }
        Arena arena = Arena.ofShared();
        return new Block(base, address, bytes, arena, view(address, bytes, arena));
    }

    private void inUse(long bytes) {
        inUseBytes += bytes;
        peakInUseBytes = Math.max(peakInUseBytes, inUseBytes);
    }

    /** Frees a cached block; the caller holds the cache's lock. */
    private void release(Block block) {
        cachedBytes -= block.bytes();
        free(block);
    }

    /** Gives a block back to the C library, its arena (if it has one) closed first so no segment outlives it. */
    private void free(Block block) {
        if (block.arena() != null) {
            block.arena().close();
        }
        LibC.free(block.base());
        accountant.release(block.bytes());
    }

    private MemorySegment pinnedMemory(Arena arena, long bytes) {
        MemorySegment segment = Cuda.mallocHost(bytes).reinterpret(bytes, arena, Cuda::freeHost);
        return segment.fill((byte) 0);
    }

    /** Frees every cached block (their bytes stop being reserved). */
    public void trim() {
        synchronized (cache) {
            for (ArrayDeque<Block> bin : cache.values()) {
                for (Block block : bin) {
                    release(block);
                }
            }
            cache.clear();
        }
    }

    /** Bytes held in the cache for reuse (reserved, in no one's use). */
    public long cachedBytes() {
        synchronized (cache) {
            return cachedBytes;
        }
    }

    /** The accountant this allocator books with. */
    @Override
    public Accountant accountant() {
        return accountant;
    }

    /** The buffers not yet closed, in allocation order. */
    public List<LiveAllocation> liveAllocations() {
        return ledger.live();
    }

    /**
     * Stops handing out buffers, frees the cache and checks that no buffer is live. Calling it again repeats the
     * check.
     *
     * @throws MemoryLeakException naming the leaked bytes and the owner, category and size of every live buffer
     */
    @Override
    public void close() {
        closed = true;
        trim();
        ledger.checkNoLeaks(pinned ? "HostAllocator (pinned)" : "HostAllocator");
    }

    /**
     * Un-books a buffer that its own close has just ended (with an arena per buffer, also made its segments
     * inaccessible), and frees its block or, when caching and still open, keeps it.
     */
    void freed(HostBuffer buffer) {
        ledger.remove(buffer.id());
        accountant.free(buffer.category(), buffer.byteSize());
        Block block = buffer.block();
        if (block == null) {
            accountant.release(buffer.byteSize());
            return;
        }
        if (caching) {
            synchronized (cache) {
                inUseBytes -= block.bytes();
                if (!closed) {
                    cache.computeIfAbsent(block.bytes(), size -> new ArrayDeque<>()).addLast(block);
                    cachedBytes += block.bytes();
                    return;
                }
            }
        }
        free(block);
    }
}
