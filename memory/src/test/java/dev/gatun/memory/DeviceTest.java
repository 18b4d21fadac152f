package dev.gatun.memory;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeviceTest {
    @Test
    void parsesAndPrintsBackTheSameText() {
        assertEquals(Device.CPU, Device.parse(" CPU "));
        assertEquals(Device.cuda(0), Device.parse("cuda"));
        assertEquals(Device.cuda(3), Device.parse("cuda:3"));
        for (String text : new String[]{"cpu", "cuda:0", "cuda:7"}) {
            assertEquals(text, Device.parse(text).toString());
        }
        assertTrue(Device.cuda(1).isCuda());
        assertFalse(Device.CPU.isCuda());
    }

    @Test
    void rejectsWhatIsNotADevice() {
        for (String bad : new String[]{"", "gpu", "cuda:", "cuda:-1", "cuda:x", "cpu:1", null}) {
            var e = assertThrows(IllegalArgumentException.class, () -> Device.parse(bad), String.valueOf(bad));
            assertTrue(e.getMessage().contains("cpu, cuda or cuda:N") || e.getMessage().contains(">= 0"),
                    e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new Device(Device.Kind.CPU, 1));
        assertThrows(IllegalArgumentException.class, () -> new Device(null, 0));
    }
}
