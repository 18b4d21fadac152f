package dev.gatun.cli.report;

import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;

import java.util.LinkedHashMap;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MemoryChartTest {
    private static final long MIB = 1 << 20;

    private static LinkedHashMap<String, Long> bytes(long params, long grads, long optimizer) {
        LinkedHashMap<String, Long> map = new LinkedHashMap<>();
        map.put("parameters", params);
        map.put("gradients", grads);
        map.put("optimizer", optimizer);
        return map;
    }

    @Test
    void drawsOneRectPerRankAndNonzeroCategory() throws Exception {
        List<MemoryChart.RankMemory> ranks = List.of(
                new MemoryChart.RankMemory("rank 0", bytes(100 * MIB, 100 * MIB, 400 * MIB), 600 * MIB),
                new MemoryChart.RankMemory("rank 1", bytes(100 * MIB, 0, 400 * MIB), 500 * MIB),
                new MemoryChart.RankMemory("rank <2>", bytes(0, 0, 0), 0));
        SvgXml svg = new SvgXml(MemoryChart.svg("ZeRO-2 memory", "device memory (MiB)", "model states", ranks));
        List<Element> rects = svg.elements("rect");
        assertEquals(5, rects.size());
        assertEquals(rects.get(0).getAttribute("fill"), rects.get(3).getAttribute("fill"), "parameters colour");
        assertEquals(rects.get(2).getAttribute("fill"), rects.get(4).getAttribute("fill"), "optimizer colour");
        assertEquals(2, svg.elements("polyline").size(), "a formula bracket for each rank that has one");
        List<String> texts = svg.texts();
        assertTrue(texts.containsAll(List.of("rank 0", "rank <2>", "ZeRO formula (model states)", "parameters",
                "gradients", "optimizer", "device memory (MiB)")), texts.toString());
        assertEquals(List.of("0", "200", "400", "600", "800"), svg.texts("tick x"), "round ticks");
    }

    @Test
    void rejectsNegativeBytes() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new MemoryChart.RankMemory("r0", bytes(-1, 0, 0), 0));
        assertTrue(e.getMessage().contains("expected a named category with bytes >= 0"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new MemoryChart.RankMemory("r0", bytes(0, 0, 0), -5));
    }
}
