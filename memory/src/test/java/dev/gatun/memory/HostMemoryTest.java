package dev.gatun.memory;

import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostMemoryTest {
    @Test
    void memAvailableIsReadInKibibytes() {
        assertEquals(OptionalLong.of(1234L * 1024), HostMemory.parseMemAvailable(List.of("MemTotal: 99999 kB",
                "MemFree:   10 kB", "MemAvailable:    1234 kB", "Buffers: 5 kB")));
        assertEquals(OptionalLong.empty(), HostMemory.parseMemAvailable(List.of("MemTotal: 99999 kB")));
    }

    @Test
    void whatIsAvailableIsPositiveAndNoMoreThanTheMachineHas() {
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long available = HostMemory.availableBytes();
        assertTrue(available > 0 && available <= os.getTotalMemorySize(), available + " of "
                + os.getTotalMemorySize() + " (" + HostMemory.source() + ")");
    }
}
