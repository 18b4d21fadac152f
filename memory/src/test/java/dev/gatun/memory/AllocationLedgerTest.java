package dev.gatun.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class AllocationLedgerTest {
    @Test
    void tracksLiveAllocationsInOrder() {
        AllocationLedger ledger = new AllocationLedger(false);
        long a = ledger.add("embedding", MemoryCategory.PARAMETERS, 4096);
        long b = ledger.add("adam.m", MemoryCategory.OPTIMIZER_STATE, 8192);
        long c = ledger.add("bucket0", MemoryCategory.COMMUNICATION, 100);
        assertEquals(a, ledger.remove(a).id());
        assertEquals(List.of("adam.m", "bucket0"), ledger.live().stream().map(LiveAllocation::owner).toList());
        assertTrue(ledger.live().get(0).site().isEmpty());
        ledger.remove(b);
        ledger.remove(c);
        ledger.checkNoLeaks("test");
    }

    @Test
    void removingTwiceThrows() {
        AllocationLedger ledger = new AllocationLedger(false);
        long id = ledger.add("x", MemoryCategory.WORKSPACE, 1);
        ledger.remove(id);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ledger.remove(id));
        assertEquals("no live allocation #" + id + ": it was never added or already removed", e.getMessage());
    }

    @Test
    void leakNamesTotalBytesAndEachOwnerWithCategoryAndBytes() {
        AllocationLedger ledger = new AllocationLedger(false);
        long freed = ledger.add("freed", MemoryCategory.ACTIVATIONS, 10);
        ledger.add("layer0.weight", MemoryCategory.PARAMETERS, 2048);
        ledger.add("grad.bucket", MemoryCategory.GRADIENTS, 1024);
        ledger.remove(freed);

        MemoryLeakException leak =
                assertThrows(MemoryLeakException.class, () -> ledger.checkNoLeaks("TestAllocator"));
        assertEquals("""
                TestAllocator closed with 2 live allocations holding 3072 bytes (3.00 KiB):
                  #2 owner 'layer0.weight' parameters 2048 bytes (2.00 KiB)
                  #3 owner 'grad.bucket' gradients 1024 bytes (1.00 KiB)""", leak.getMessage());
        assertEquals(3072, leak.leakedBytes());
        assertEquals(List.of("layer0.weight", "grad.bucket"),
                leak.leaks().stream().map(LiveAllocation::owner).toList());
    }

    @Test
    void debugModeRecordsTheAllocationSite() {
        AllocationLedger ledger = new AllocationLedger(true);
        ledger.add("kv.cache", MemoryCategory.ACTIVATIONS, 512);

        StackTraceElement top = ledger.live().get(0).site().get(0);
        assertEquals(AllocationLedgerTest.class.getName(), top.getClassName());
        assertEquals("debugModeRecordsTheAllocationSite", top.getMethodName());
        String message = assertThrows(MemoryLeakException.class, () -> ledger.checkNoLeaks("T")).getMessage();
        assertTrue(message.contains("#1 owner 'kv.cache' activations 512 bytes (512 B)\n      at "
                + AllocationLedgerTest.class.getName() + ".debugModeRecordsTheAllocationSite("), message);
        assertTrue(ledger.live().get(0).site().size() <= AllocationLedger.SITE_FRAMES);
    }

    @Test
    void longLeakListsAreCutWithASummary() {
        AllocationLedger ledger = new AllocationLedger(false);
        for (int i = 0; i < MemoryLeakException.LISTED + 5; i++) {
            ledger.add("act" + i, MemoryCategory.ACTIVATIONS, 100);
        }
        String message = assertThrows(MemoryLeakException.class, () -> ledger.checkNoLeaks("T")).getMessage();
        assertTrue(message.startsWith("T closed with 25 live allocations holding 2500 bytes (2.44 KiB):"), message);
        assertTrue(message.contains("owner 'act19'"), message);
        assertFalse(message.contains("owner 'act20'"), message);
        assertTrue(message.endsWith("\n  ... and 5 more holding 500 bytes (500 B)"), message);
    }

    @Test
    void recordSitesRequestedFollowsTheSystemProperty() {
        String previous = System.getProperty(AllocationLedger.RECORD_SITES_PROPERTY);
        try {
            System.setProperty(AllocationLedger.RECORD_SITES_PROPERTY, "true");
            assertTrue(AllocationLedger.recordSitesRequested());
            System.clearProperty(AllocationLedger.RECORD_SITES_PROPERTY);
            assertFalse(AllocationLedger.recordSitesRequested());
        } finally {
            if (previous != null) {
                System.setProperty(AllocationLedger.RECORD_SITES_PROPERTY, previous);
            }
        }
    }
}
