package dev.gatun.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

class HostAllocatorTest {
    @Test
    void buffersAreAlignedZeroFilledAndBooked() {
        try (HostAllocator allocator = new HostAllocator(new Accountant(), false)) {
            try (HostBuffer weights = allocator.allocate(MemoryCategory.PARAMETERS, "layer0.weight", 1000);
                 HostBuffer grads = allocator.allocate(MemoryCategory.GRADIENTS, "layer0.grad", 24)) {
                MemorySegment segment = weights.segment();
                assertEquals(1000, weights.byteSize());
                assertEquals(1000, segment.byteSize());
                assertEquals(0, segment.address() % HostAllocator.ALIGNMENT);
                assertEquals(0, grads.segment().address() % HostAllocator.ALIGNMENT);
                for (long i = 0; i < segment.byteSize(); i++) {
                    assertEquals(0, segment.get(ValueLayout.JAVA_BYTE, i));
                }
                segment.set(ValueLayout.JAVA_FLOAT, 996, 1.5f);
                assertEquals(1.5f, segment.get(ValueLayout.JAVA_FLOAT, 996));
                assertEquals(MemoryCategory.PARAMETERS, weights.category());
                assertEquals("layer0.weight", weights.owner());

                MemoryReport report = allocator.accountant().report();
                assertEquals(new MemoryReport.Usage(1000, 1000), report.usage(MemoryCategory.PARAMETERS));
                assertEquals(new MemoryReport.Usage(24, 24), report.usage(MemoryCategory.GRADIENTS));
                assertEquals(new MemoryReport.Usage(1024, 1024), report.total());
                assertEquals(new MemoryReport.Usage(1024, 1024), report.reserved());
                assertEquals(List.of("layer0.weight", "layer0.grad"),
                        allocator.liveAllocations().stream().map(LiveAllocation::owner).toList());
            }
            MemoryReport report = allocator.accountant().report();
            assertEquals(new MemoryReport.Usage(0, 1024), report.total());
            assertEquals(new MemoryReport.Usage(0, 1024), report.reserved());
            assertTrue(allocator.liveAllocations().isEmpty());
        }
    }

    @Test
    void closeFreesAtOnceAndOnlyOnce() {
        try (HostAllocator allocator = new HostAllocator()) {
            HostBuffer buffer = allocator.allocate(MemoryCategory.ACTIVATIONS, "attn.scores", 256);
            MemorySegment segment = buffer.segment();
            buffer.close();

            assertThrows(IllegalStateException.class, () -> segment.get(ValueLayout.JAVA_BYTE, 0));
            IllegalStateException again = assertThrows(IllegalStateException.class, buffer::close);
            assertEquals("buffer already freed: attn.scores", again.getMessage());
            IllegalStateException access = assertThrows(IllegalStateException.class, buffer::segment);
            assertEquals("buffer already freed: attn.scores", access.getMessage());
            assertEquals(new MemoryReport.Usage(0, 256), allocator.accountant().report().total());
        }
    }

    @Test
    void buffersMayBeFreedOnAnotherThread() throws Exception {
        try (HostAllocator allocator = new HostAllocator()) {
            HostBuffer buffer = allocator.allocate(MemoryCategory.COMMUNICATION, "bucket", 4096);
            Thread freer = new Thread(buffer::close);
            freer.start();
            freer.join();
            assertEquals(0, allocator.accountant().report().total().currentBytes());
        }
    }

    @Test
    void closingWithLiveBuffersThrowsNamingThem() {
        HostAllocator allocator = new HostAllocator(new Accountant(), false);
        HostBuffer kept = allocator.allocate(MemoryCategory.OPTIMIZER_STATE, "adam.v", 3L << 20);
        allocator.allocate(MemoryCategory.WORKSPACE, "gemm.workspace", 512).close();

        MemoryLeakException leak = assertThrows(MemoryLeakException.class, allocator::close);
        assertEquals("""
                HostAllocator closed with 1 live allocation holding 3145728 bytes (3.00 MiB):
                  #1 owner 'adam.v' optimizer state 3145728 bytes (3.00 MiB)""", leak.getMessage());

        IllegalStateException closed = assertThrows(IllegalStateException.class,
                () -> allocator.allocate(MemoryCategory.WORKSPACE, "late", 8));
        assertEquals("HostAllocator is closed: cannot allocate 8 bytes for 'late'", closed.getMessage());
        kept.segment().set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
        kept.close();
        allocator.close();
    }

    @Test
    void debugModeNamesTheAllocationSite() {
        HostAllocator allocator = new HostAllocator(new Accountant(), true);
        HostBuffer kept = allocator.allocate(MemoryCategory.ACTIVATIONS, "saved.x", 64);
        String message = assertThrows(MemoryLeakException.class, allocator::close).getMessage();
        assertTrue(message.contains(HostAllocatorTest.class.getName() + ".debugModeNamesTheAllocationSite("),
                message);
        kept.close();
    }

    @Test
    void rejectsBadArgumentsBeforeBooking() {
        try (HostAllocator allocator = new HostAllocator()) {
            IllegalArgumentException zero = assertThrows(IllegalArgumentException.class,
                    () -> allocator.allocate(MemoryCategory.PARAMETERS, "w", 0));
            assertEquals("bytes must be > 0, got 0 (owner 'w')", zero.getMessage());
            assertThrows(IllegalArgumentException.class, () -> allocator.allocate(MemoryCategory.PARAMETERS, "w", -5));
            assertThrows(IllegalArgumentException.class, () -> allocator.allocate(MemoryCategory.PARAMETERS, " ", 8));
            NullPointerException owner = assertThrows(NullPointerException.class,
                    () -> allocator.allocate(MemoryCategory.PARAMETERS, null, 8));
            assertEquals("owner must not be null", owner.getMessage());
            NullPointerException category = assertThrows(NullPointerException.class,
                    () -> allocator.allocate(null, "w", 8));
            assertEquals("category must not be null", category.getMessage());
            assertEquals(new MemoryReport.Usage(0, 0), allocator.accountant().report().total());
        }
    }

    @Test
    void failedAllocationBooksNothing() {
        try (HostAllocator allocator = new HostAllocator()) {
            // No system has 2^62 bytes to give: the arena's allocation fails and nothing may stay booked.
            assertThrows(OutOfMemoryError.class,
                    () -> allocator.allocate(MemoryCategory.ACTIVATIONS, "huge", 1L << 62));
            MemoryReport report = allocator.accountant().report();
            assertEquals(new MemoryReport.Usage(0, 0), report.total());
            assertEquals(new MemoryReport.Usage(0, 0), report.reserved());
            assertTrue(allocator.liveAllocations().isEmpty());
        }
    }

    @Test
    void allocatorsMayShareAnAccountant() {
        Accountant shared = new Accountant();
        try (HostAllocator first = new HostAllocator(shared, false);
             HostAllocator second = new HostAllocator(shared, false);
             HostBuffer a = first.allocate(MemoryCategory.PARAMETERS, "a", 100);
             HostBuffer b = second.allocate(MemoryCategory.PARAMETERS, "b", 50)) {
            assertEquals(a.byteSize() + b.byteSize(), shared.report().usage(MemoryCategory.PARAMETERS).currentBytes());
            assertEquals(List.of("a"), first.liveAllocations().stream().map(LiveAllocation::owner).toList());
        }
        assertEquals(new MemoryReport.Usage(0, 150), shared.report().total());
    }

    @Test
    void pinnedMemoryWithoutACudaDeviceFailsAndBooksNothing() {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.gatun.bindings.Cuda.isAvailable(),
                "a CUDA device is present: CudaMemoryGpuTest covers pinned memory there");
        try (HostAllocator pinned = HostAllocator.pinned(new Accountant(), false)) {
            assertTrue(pinned.isPinned());
            RuntimeException e = assertThrows(RuntimeException.class,
                    () -> pinned.allocate(MemoryCategory.COMMUNICATION, "staging", 4096));
            assertTrue(e instanceof dev.gatun.bindings.GpuException || e instanceof dev.gatun.bindings.LibraryNotFoundException,
                    e.toString());
            assertEquals(new MemoryReport.Usage(0, 0), pinned.accountant().report().total());
            assertEquals(new MemoryReport.Usage(0, 0), pinned.accountant().report().reserved());
            assertTrue(pinned.liveAllocations().isEmpty());
        }
    }
}
