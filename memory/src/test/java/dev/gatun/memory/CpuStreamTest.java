package dev.gatun.memory;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CPU stream has the device streams' API and is complete whenever asked. */
class CpuStreamTest {
    @Test
    void eventsAreCompleteWhenRecordedAndTimeTheHost() throws InterruptedException {
        try (DeviceStream compute = DeviceStream.cpu(); DeviceStream comm = DeviceStream.cpu()) {
            assertEquals(Device.CPU, compute.device());
            DeviceEvent start = compute.record();
            Thread.sleep(20);
            DeviceEvent end = compute.record();
            assertTrue(end.isComplete());
            comm.waitFor(end);
            comm.synchronize();
            end.synchronize();
            float ms = end.elapsedMillisSince(start);
            assertTrue(ms >= 19 && ms < 10_000, "elapsed " + ms + " ms");
            start.close();
            end.close();
        }
    }

    @Test
    void aCpuEventCannotBeTimedAgainstAnotherKind() {
        DeviceEvent cpu = DeviceStream.cpu().record();
        DeviceEvent other = new CachingDeviceAllocatorTest.SimulatedStream().record();
        assertThrows(IllegalArgumentException.class, () -> cpu.elapsedMillisSince(other));
        assertThrows(IllegalArgumentException.class, () -> DeviceStream.cpu().waitFor(other));
    }
}
