package dev.gatun.cli.report;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MetricsWriterTest {
    private static Map<String, Object> record(Object... keyValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            map.put((String) keyValues[i], keyValues[i + 1]);
        }
        return map;
    }

    @Test
    void writesNumbersBooleansNullsAndLists() {
        String json = MetricsWriter.toJson(record("step", 3, "tokens", 1L << 40, "loss", 2.5, "lr", 6e-5,
                "ok", true, "none", null, "ranks", Arrays.asList(1.5, 2, Double.NaN, null)));
        assertEquals("{\"step\":3,\"tokens\":1099511627776,\"loss\":2.5,\"lr\":6.0E-5,\"ok\":true,\"none\":null,"
                + "\"ranks\":[1.5,2,null,null]}", json);
    }

    @Test
    void nonFiniteNumbersBecomeNull() {
        assertEquals("{\"a\":null,\"b\":null,\"c\":null}", MetricsWriter.toJson(
                record("a", Double.NaN, "b", Double.POSITIVE_INFINITY, "c", Float.NEGATIVE_INFINITY)));
    }

    @Test
    void escapesStringsPerRfc8259() {
        String json = MetricsWriter.toJson(record("say \"hi\"", "a\"b\\c\nd\te\u0001f\u001f/é☃"));
        assertEquals("{\"say \\\"hi\\\"\":\"a\\\"b\\\\c\\nd\\te\\u0001f\\u001f/é☃\"}", json);
    }

    @Test
    void rejectsUnsupportedValues() {
        var e = assertThrows(IllegalArgumentException.class, () -> MetricsWriter.toJson(record("x", new Object())));
        assertTrue(e.getMessage().contains("metric 'x'") && e.getMessage().contains("expected Number"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> MetricsWriter.toJson(record("x", List.of("a"))));
    }

    @Test
    void writesOneFlushedLinePerRecord(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("run/metrics.jsonl");
        try (MetricsWriter writer = new MetricsWriter(file)) {
            writer.write(record("step", 0, "loss", 3.25));
            assertEquals(List.of("{\"step\":0,\"loss\":3.25}"), Files.readAllLines(file), "flushed per line");
            writer.write(record("step", 1, "note", "a\nb"));
        }
        assertEquals(List.of("{\"step\":0,\"loss\":3.25}", "{\"step\":1,\"note\":\"a\\nb\"}"),
                Files.readAllLines(file));
    }
}
