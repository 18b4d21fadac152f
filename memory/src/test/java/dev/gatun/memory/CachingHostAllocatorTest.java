package dev.gatun.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@link HostAllocator#caching}: closed blocks reused for the same size, zero-filled, within the peak in use. */
class CachingHostAllocatorTest {
    private static final long KIB = 1024;

    /** In the debugging mode (allocation sites recorded) every buffer has its own arena, closed with it. */
    @Test
    void aClosedBlockIsReusedForTheSameSizeZeroFilledAndTheOldSegmentIsDead() {
        try (HostAllocator allocator = HostAllocator.caching(new Accountant(), true)) {
            HostBuffer first = allocator.allocate(MemoryCategory.ACTIVATIONS, "logits", 64 * KIB);
            MemorySegment old = first.segment();
            old.fill((byte) 7);
            long address = old.address();
            first.close();
            assertEquals(64 * KIB, allocator.cachedBytes());
            assertEquals(new MemoryReport.Usage(64 * KIB, 64 * KIB), allocator.accountant().report().reserved());

            try (HostBuffer again = allocator.allocate(MemoryCategory.ACTIVATIONS, "logits", 64 * KIB)) {
                MemorySegment segment = again.segment();
                assertEquals(address, segment.address(), "the cached block is handed out again");
                assertEquals(0, allocator.cachedBytes());
                for (long i = 0; i < segment.byteSize(); i += 8) {
                    assertEquals(0L, segment.get(ValueLayout.JAVA_LONG, i), "byte " + i + " is not zero");
                }
                assertThrows(IllegalStateException.class, () -> old.get(ValueLayout.JAVA_BYTE, 0),
                        "a segment of the closed buffer must stay inaccessible after its block is reused");
                MemoryReport report = allocator.accountant().report();
                assertEquals(new MemoryReport.Usage(64 * KIB, 64 * KIB), report.total());
                assertEquals(new MemoryReport.Usage(64 * KIB, 64 * KIB), report.reserved(), "no second block");
            }
            try (HostBuffer other = allocator.allocate(MemoryCategory.ACTIVATIONS, "other", 32 * KIB)) {
                assertEquals(0, other.segment().address() % HostAllocator.ALIGNMENT);
            }
        }
    }

    /**
     * By default the arena is the block's: closing a buffer opens and closes no arena (the handshake with every thread
     * that costs tens of microseconds), the block comes back zero-filled through a segment of the same arena, the
     * closed buffer refuses {@code segment()}, and a segment kept past the close dies when its block is freed to the
     * system instead of reaching freed memory.
     */
    @Test
    void byDefaultABlockKeepsOneArenaUntilItIsFreed() {
        try (HostAllocator allocator = HostAllocator.caching(new Accountant(), false)) {
            HostBuffer first = allocator.allocate(MemoryCategory.ACTIVATIONS, "logits", 64 * KIB);
            MemorySegment old = first.segment();
            old.fill((byte) 7);
            first.close();
            assertThrows(IllegalStateException.class, first::segment, "a closed buffer hands out no segment");
            try (HostBuffer again = allocator.allocate(MemoryCategory.ACTIVATIONS, "logits", 64 * KIB)) {
                MemorySegment segment = again.segment();
                assertEquals(old.address(), segment.address(), "the cached block is handed out again");
                assertEquals(old.scope(), segment.scope(), "the block's arena, not a new one per buffer");
                for (long i = 0; i < segment.byteSize(); i += 8) {
                    assertEquals(0L, segment.get(ValueLayout.JAVA_LONG, i), "byte " + i + " is not zero");
                }
            }
            allocator.trim();
            assertEquals(0, allocator.cachedBytes());
            assertEquals(0, allocator.accountant().report().reserved().currentBytes(), "trim freed the block");
            assertThrows(IllegalStateException.class, () -> old.get(ValueLayout.JAVA_BYTE, 0),
                    "a segment kept past its buffer's close must not reach a freed block");
        }
    }

    /**
     * Random sizes from a few classes, random closes: reserved (in use + cached) never passes the peak in use
     * reached so far, every buffer is zero when handed out, and the accountant's in-use equals the live bytes.
     */
    @Test
    void theCacheNeverHoldsMoreThanThePeakInUse() {
        SplittableRandom random = new SplittableRandom(5);
        try (HostAllocator allocator = HostAllocator.caching(new Accountant(), false)) {
            List<HostBuffer> live = new ArrayList<>();
            long peakInUse = 0;
            for (int round = 0; round < 400; round++) {
                if (!live.isEmpty() && random.nextInt(3) == 0) {
                    live.remove(random.nextInt(live.size())).close();
                } else {
                    long bytes = (1 + random.nextInt(6)) * 4 * KIB;
                    HostBuffer buffer = allocator.allocate(MemoryCategory.ACTIVATIONS, "b" + round, bytes);
                    MemorySegment segment = buffer.segment();
                    for (long i = 0; i < bytes; i += 512) {
                        assertEquals(0, segment.get(ValueLayout.JAVA_BYTE, i), "round " + round);
                    }
                    segment.fill((byte) 1);
                    live.add(buffer);
                }
                long inUse = live.stream().mapToLong(HostBuffer::byteSize).sum();
                peakInUse = Math.max(peakInUse, inUse);
                MemoryReport report = allocator.accountant().report();
                assertEquals(inUse, report.total().currentBytes(), "round " + round);
                assertEquals(inUse + allocator.cachedBytes(), report.reserved().currentBytes(), "round " + round);
                assertTrue(report.reserved().currentBytes() <= peakInUse,
                        "round " + round + ": reserved " + report.reserved().currentBytes() + " > peak in use "
                                + peakInUse);
            }
            live.forEach(HostBuffer::close);
            allocator.trim();
            assertEquals(0, allocator.cachedBytes());
            assertEquals(0, allocator.accountant().report().reserved().currentBytes());
        }
    }

    @Test
    void closeFreesTheCacheAndStillReportsLeaks() {
        HostAllocator allocator = HostAllocator.caching(new Accountant(), false);
        allocator.allocate(MemoryCategory.ACTIVATIONS, "cached", 8 * KIB).close();
        HostBuffer leaked = allocator.allocate(MemoryCategory.GRADIENTS, "leaked.grad", 4 * KIB);
        MemoryLeakException e = assertThrows(MemoryLeakException.class, allocator::close);
        assertTrue(e.getMessage().contains("leaked.grad"), e.getMessage());
        assertEquals(0, allocator.cachedBytes());
        assertEquals(4 * KIB, allocator.accountant().report().reserved().currentBytes());
        leaked.segment().set(ValueLayout.JAVA_INT, 0, 3);
        leaked.close();
        assertEquals(0, allocator.accountant().report().reserved().currentBytes(), "closed after the allocator: freed");
        assertEquals(0, allocator.cachedBytes());
        assertThrows(IllegalStateException.class,
                () -> allocator.allocate(MemoryCategory.ACTIVATIONS, "late", 4 * KIB));
    }
}
