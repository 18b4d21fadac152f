package dev.gatun.memory;

import dev.gatun.bindings.Cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Objects;

/**
 * Host (off-heap) memory from {@link Arena}s, {@value #ALIGNMENT}-byte aligned and zero-filled, every buffer booked
 * with an {@link Accountant} (in use under its category, and reserved: host memory is held only while in use) and
 * entered in an {@link AllocationLedger}.
 *
 * <p>Each {@link HostBuffer} has its own shared arena, so closing the buffer returns its memory at once and the
 * buffer may be used and closed from any thread. Closing the allocator while buffers are live throws a
 * {@link MemoryLeakException} naming them; the leaked buffers stay valid until they are closed. After
 * {@link #close()} no new buffers are handed out.
 *
 * <p>A {@linkplain #pinned pinned} allocator takes page-locked memory from {@code cudaMallocHost} instead (page
 * aligned, zero-filled here, returned with {@code cudaFreeHost} when its buffer closes): the staging memory for
 * asynchronous copies to and from a device.
 *
 * <p>{@link #allocate} and a buffer's {@code close()} are thread-safe; closing the allocator while another thread
 * allocates is not supported.
 */
public final class HostAllocator implements TensorAllocator {
    /** Alignment of every buffer, in bytes: a cache line, and enough for any vector load. */
    public static final long ALIGNMENT = 64;

    private final Accountant accountant;
    private final AllocationLedger ledger;
    private final boolean pinned;
    private volatile boolean closed;

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
        this(accountant, recordAllocationSites, false);
    }

    private HostAllocator(Accountant accountant, boolean recordAllocationSites, boolean pinned) {
        this.accountant = Objects.requireNonNull(accountant, "accountant must not be null");
        this.ledger = new AllocationLedger(recordAllocationSites);
        this.pinned = pinned;
    }

    /**
     * An allocator of pinned (page-locked) host memory from {@code cudaMallocHost}, booking with {@code accountant}.
     * Allocating needs the CUDA runtime and a device; without them {@link #allocate} throws the runtime's
     * {@link dev.gatun.bindings.CudaException} and books nothing.
     */
    public static HostAllocator pinned(Accountant accountant, boolean recordAllocationSites) {
        return new HostAllocator(accountant, recordAllocationSites, true);
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
        Arena arena = Arena.ofShared();
        boolean ok = false;
        try {
            MemorySegment segment = accountant.reserve(bytes,
                    () -> accountant.allocate(category, bytes, () -> memory(arena, bytes)));
            ok = true;
            return new HostBuffer(this, id, arena, segment, category, owner);
        } finally {
            if (!ok) {
                arena.close();
                ledger.remove(id);
            }
        }
    }

    private MemorySegment memory(Arena arena, long bytes) {
        if (!pinned) {
            return arena.allocate(bytes, ALIGNMENT);
        }
        MemorySegment segment = Cuda.mallocHost(bytes).reinterpret(bytes, arena, Cuda::freeHost);
        return segment.fill((byte) 0);
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
     * Stops handing out buffers and checks that none is live. Calling it again repeats the check.
     *
     * @throws MemoryLeakException naming the leaked bytes and the owner, category and size of every live buffer
     */
    @Override
    public void close() {
        closed = true;
        ledger.checkNoLeaks(pinned ? "HostAllocator (pinned)" : "HostAllocator");
    }

    /** Un-books a buffer whose memory its own close has just returned. */
    void freed(HostBuffer buffer) {
        ledger.remove(buffer.id());
        accountant.free(buffer.category(), buffer.byteSize());
        accountant.release(buffer.byteSize());
    }
}
