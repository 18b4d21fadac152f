package dev.gatun.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MemoryReportTest {
    @Test
    void tableListsEveryCategoryThenTotalAndReserved() {
        Accountant accountant = new Accountant();
        accountant.reserve(64L << 20, () -> null);
        accountant.allocate(MemoryCategory.PARAMETERS, 12L << 20, () -> null);
        accountant.allocate(MemoryCategory.OPTIMIZER_STATE, 3L << 30, () -> null);
        accountant.allocate(MemoryCategory.ACTIVATIONS, 1536, () -> null);
        accountant.free(MemoryCategory.ACTIVATIONS, 1536);

        String table = accountant.report().toString();
        String[] lines = table.split("\\R");
        assertEquals(MemoryCategory.values().length + 3, lines.length, table);
        assertEquals(row("memory", "current", "peak"), lines[0]);
        assertEquals(row("parameters", "12.00 MiB", "12.00 MiB"), lines[1]);
        assertEquals(row("gradients", "0 B", "0 B"), lines[2]);
        assertEquals(row("optimizer state", "3.00 GiB", "3.00 GiB"), lines[3]);
        assertEquals(row("activations", "0 B", "1.50 KiB"), lines[4]);
        assertTrue(lines[5].startsWith("communication"), table);
        assertTrue(lines[6].startsWith("workspace"), table);
        assertEquals(row("total in use", "3.01 GiB", "3.01 GiB"), lines[7]);
        assertEquals(row("reserved", "64.00 MiB", "64.00 MiB"), lines[8]);
    }

    @Test
    void isImmutableAndComplete() {
        Map<MemoryCategory, MemoryReport.Usage> usage = new EnumMap<>(MemoryCategory.class);
        for (MemoryCategory category : MemoryCategory.values()) {
            usage.put(category, new MemoryReport.Usage(1, 2));
        }
        MemoryReport report = new MemoryReport(usage, new MemoryReport.Usage(6, 12), new MemoryReport.Usage(6, 12));
        usage.put(MemoryCategory.PARAMETERS, new MemoryReport.Usage(5, 5));
        assertEquals(new MemoryReport.Usage(1, 2), report.usage(MemoryCategory.PARAMETERS));
        assertThrows(UnsupportedOperationException.class,
                () -> report.categories().put(MemoryCategory.PARAMETERS, new MemoryReport.Usage(0, 0)));

        usage.remove(MemoryCategory.WORKSPACE);
        NullPointerException missing = assertThrows(NullPointerException.class,
                () -> new MemoryReport(usage, new MemoryReport.Usage(0, 0), new MemoryReport.Usage(0, 0)));
        assertEquals("no usage given for category WORKSPACE", missing.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new MemoryReport.Usage(5, 4));
    }

    private static String row(String label, String current, String peak) {
        return String.format("%-16s %12s %12s", label, current, peak);
    }
}
