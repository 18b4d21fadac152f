package dev.gatun.memory;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The caching allocator's logic over a simulated device: memory with a capacity that counts mallocs and frees, and
 * streams whose events complete when the test says so.
 */
class CachingDeviceAllocatorTest {
    private static final long MiB = 1L << 20;
    private static final Device GPU = Device.cuda(0);

    /** Device memory with a capacity; addresses are distinct and never reused, so reuse shows as equal addresses. */
    static final class SimulatedMemory implements DeviceMemory {
        final long capacity;
        final Map<Long, Long> live = new HashMap<>();
        long next = 0x7000_0000_0000L;
        int mallocs;
        int frees;

        SimulatedMemory(long capacity) {
            this.capacity = capacity;
        }

        long used() {
            return live.values().stream().mapToLong(Long::longValue).sum();
        }

        @Override
        public Device device() {
            return GPU;
        }

        @Override
        public synchronized OptionalLong malloc(long bytes) {
            if (used() + bytes > capacity) {
                return OptionalLong.empty();
            }
            mallocs++;
            long address = next;
            next += bytes + (1L << 20);
            live.put(address, bytes);
            return OptionalLong.of(address);
        }

        @Override
        public synchronized void free(long address) {
            frees++;
            if (live.remove(address) == null) {
                throw new AssertionError("free of an address not allocated: " + address);
            }
        }

        @Override
        public synchronized long freeBytes() {
            return capacity - used();
        }

        @Override
        public long totalBytes() {
            return capacity;
        }
    }

    /** A stream on the simulated device whose events complete only when {@link #completeAll()} is called. */
    static final class SimulatedStream implements DeviceStream {
        final List<SimulatedEvent> events = new ArrayList<>();

        static final class SimulatedEvent implements DeviceEvent {
            volatile boolean complete;

            @Override
            public boolean isComplete() {
                return complete;
            }

            @Override
            public void synchronize() {
                complete = true;
            }

            @Override
            public float elapsedMillisSince(DeviceEvent start) {
                return 0;
            }

            @Override
            public void close() {
            }
        }

        void completeAll() {
            events.forEach(e -> e.complete = true);
        }

        @Override
        public Device device() {
            return GPU;
        }

        @Override
        public synchronized DeviceEvent record() {
            SimulatedEvent e = new SimulatedEvent();
            events.add(e);
            return e;
        }

        @Override
        public void waitFor(DeviceEvent event) {
        }

        @Override
        public void synchronize() {
            completeAll();
        }

        @Override
        public void close() {
        }
    }

    private final SimulatedMemory memory = new SimulatedMemory(1L << 30);
    private final CachingDeviceAllocator allocator = new CachingDeviceAllocator(memory, new Accountant(), false);
    private final SimulatedStream s1 = new SimulatedStream();
    private final SimulatedStream s2 = new SimulatedStream();

    @Test
    void aFreedBlockIsReusedWithoutTouchingTheDevice() {
        DeviceBuffer a = allocator.allocate(MemoryCategory.ACTIVATIONS, "a", 1000, s1);
        long address = a.address();
        a.close();
        DeviceBuffer b = allocator.allocate(MemoryCategory.ACTIVATIONS, "b", 700, s1);
        assertEquals(address, b.address());
        assertEquals(1, memory.mallocs);
        assertEquals(0, memory.frees);
        b.close();
        allocator.close();
    }

    @Test
    void blocksSplitFromOneSegmentAndCoalesceWhenFreed() {
        DeviceBuffer a = allocator.allocate(MemoryCategory.ACTIVATIONS, "a", 100_000, s1);
        DeviceBuffer b = allocator.allocate(MemoryCategory.ACTIVATIONS, "b", 100_000, s1);
        assertEquals(a.address() + CachingDeviceAllocator.roundSize(100_000), b.address());
        assertEquals(1, memory.mallocs);
        a.close();
        b.close();
        // coalesced back into the whole 2 MiB segment: a 1.5 MiB request would not fit the small pool, but the segment
        // is whole again, so emptyCache gives it back
        allocator.emptyCache();
        assertEquals(0, allocator.segmentCount());
        assertEquals(Map.of(), memory.live);
        allocator.close();
    }

    @Test
    void largeRequestsGetTheirOwnPoolAndSizes() {
        DeviceBuffer small = allocator.allocate(MemoryCategory.WORKSPACE, "small", MiB, s1);
        DeviceBuffer mid = allocator.allocate(MemoryCategory.WORKSPACE, "mid", 3 * MiB, s1);
        DeviceBuffer big = allocator.allocate(MemoryCategory.WORKSPACE, "big", 33 * MiB + 1, s1);
        assertEquals(List.of(2 * MiB, 20 * MiB, 34 * MiB), memory.live.values().stream().sorted().toList());
        DeviceBuffer mid2 = allocator.allocate(MemoryCategory.WORKSPACE, "mid2", 5 * MiB, s1);
        assertEquals(mid.address() + 3 * MiB, mid2.address(), "the rest of the 20 MiB segment serves the next");
        List.of(small, mid, big, mid2).forEach(DeviceBuffer::close);
        allocator.close();
        assertEquals(Map.of(), memory.live);
    }

    @Test
    void aBlockFreedOnOneStreamIsNotHandedToAnother() {
        DeviceBuffer a = allocator.allocate(MemoryCategory.ACTIVATIONS, "a", 4096, s1);
        long address = a.address();
        a.close();
        DeviceBuffer b = allocator.allocate(MemoryCategory.ACTIVATIONS, "b", 4096, s2);
        assertNotEquals(address, b.address());
        assertEquals(2, memory.mallocs);
        b.close();
        allocator.close();
    }

    @Test
    void aBlockUsedOnAnotherStreamWaitsForThatStreamsWork() {
        DeviceBuffer a = allocator.allocate(MemoryCategory.COMMUNICATION, "bucket", 64 * 1024, s1);
        long address = a.address();
        a.recordStream(s2);
        a.close(); // no synchronisation: an event is recorded on s2
        assertEquals(1, s2.events.size());

        DeviceBuffer b = allocator.allocate(MemoryCategory.COMMUNICATION, "b", 64 * 1024, s1);
        assertNotEquals(address, b.address(), "reused while s2's work could still read it");
        b.close();

        s2.completeAll();
        DeviceBuffer c = allocator.allocate(MemoryCategory.COMMUNICATION, "c", 64 * 1024, s1);
        assertEquals(address, c.address());
        c.close();
        allocator.close();
    }

    @Test
    void outOfMemoryReleasesTheCacheAndRetriesOnce() {
        SimulatedMemory tight = new SimulatedMemory(21 * MiB);
        try (var alloc = new CachingDeviceAllocator(tight, new Accountant(), false)) {
            alloc.allocate(MemoryCategory.ACTIVATIONS, "small", 1024, s1).close(); // caches a 2 MiB segment
            DeviceBuffer big = alloc.allocate(MemoryCategory.ACTIVATIONS, "big", 3 * MiB, s1); // needs 20 MiB
            assertEquals(1, tight.frees, "the cached segment was released to make room");
            big.close();
        }
    }

    @Test
    void outOfMemorySaysWhatWasAskedAndWhatTheDeviceAndAllocatorHold() {
        SimulatedMemory tight = new SimulatedMemory(8 * MiB);
        try (var alloc = new CachingDeviceAllocator(tight, new Accountant(), false)) {
            DeviceBuffer held = alloc.allocate(MemoryCategory.PARAMETERS, "wte", 3000, s1);
            var e = assertThrows(DeviceOutOfMemoryException.class,
                    () -> alloc.allocate(MemoryCategory.ACTIVATIONS, "attn.scores", 30 * MiB, s1));
            String m = e.getMessage();
            assertTrue(m.startsWith("out of memory on cuda:0: tried to allocate 30.00 MiB for 'attn.scores' "
                    + "(activations) in a new segment of 30.00 MiB; the device has 6.00 MiB free of 8.00 MiB"), m);
            assertTrue(m.contains("parameters") && m.contains("3.00 KiB") && m.contains("reserved"), m);
            assertEquals(30 * MiB, e.requestedBytes());
            held.close();
        }
    }

    @Test
    void accountingSeparatesInUseByCategoryFromReserved() {
        DeviceBuffer w = allocator.allocate(MemoryCategory.PARAMETERS, "w", 3 * 1024, s1);
        DeviceBuffer g = allocator.allocate(MemoryCategory.GRADIENTS, "g", 1000, s1);
        MemoryReport r = allocator.report();
        assertEquals(3072, r.usage(MemoryCategory.PARAMETERS).currentBytes());
        assertEquals(1024, r.usage(MemoryCategory.GRADIENTS).currentBytes());
        assertEquals(2 * MiB, r.reserved().currentBytes());
        w.close();
        g.close();
        r = allocator.report();
        assertEquals(0, r.total().currentBytes());
        assertEquals(4096, r.total().peakBytes());
        assertEquals(2 * MiB, r.reserved().currentBytes(), "freed blocks stay reserved in the cache");
        allocator.close();
        assertEquals(0, allocator.report().reserved().currentBytes());
    }

    @Test
    void closingWithLiveBuffersNamesThemAndFreesNothing() {
        DeviceBuffer w = allocator.allocate(MemoryCategory.PARAMETERS, "h.0.attn.c_attn.weight", 5000, s1);
        var e = assertThrows(MemoryLeakException.class, allocator::close);
        assertTrue(e.getMessage().contains("h.0.attn.c_attn.weight"), e.getMessage());
        assertTrue(e.getMessage().contains("CachingDeviceAllocator(cuda:0)"), e.getMessage());
        assertEquals(1, memory.live.size());
        w.close();
        allocator.close();
        assertEquals(Map.of(), memory.live);
    }

    @Test
    void badUseIsRefused() {
        DeviceBuffer a = allocator.allocate(MemoryCategory.WORKSPACE, "ws", 10, s1);
        a.close();
        assertEquals("buffer already freed: ws", assertThrows(IllegalStateException.class, a::close).getMessage());
        assertThrows(IllegalStateException.class, a::address);
        assertThrows(IllegalArgumentException.class, () -> allocator.allocate(MemoryCategory.WORKSPACE, "x", 0, s1));
        assertThrows(IllegalArgumentException.class, () -> allocator.allocate(MemoryCategory.WORKSPACE, " ", 8, s1));
        assertThrows(IllegalArgumentException.class,
                () -> allocator.allocate(MemoryCategory.WORKSPACE, "cpu", 8, DeviceStream.cpu()));
        allocator.close();
    }

    @Test
    void concurrentAllocationAndFreeBalance() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                SimulatedStream stream = new SimulatedStream();
                long seed = new Random().nextLong();
                futures.add(pool.submit(() -> {
                    Random random = new Random(seed);
                    List<DeviceBuffer> held = new ArrayList<>();
                    for (int i = 0; i < 500; i++) {
                        if (!held.isEmpty() && random.nextBoolean()) {
                            held.remove(random.nextInt(held.size())).close();
                        } else {
                            long bytes = random.nextBoolean() ? 1 + random.nextInt(200_000)
                                    : 1 + random.nextInt(12 * 1024 * 1024);
                            held.add(allocator.allocate(MemoryCategory.ACTIVATIONS, "t", bytes, stream));
                        }
                    }
                    held.forEach(DeviceBuffer::close);
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        assertEquals(0, allocator.report().total().currentBytes());
        allocator.close();
        assertEquals(Map.of(), memory.live);
        assertEquals(0, allocator.report().reserved().currentBytes());
    }
}
