package dev.gatun.gpt.report;

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
        SvgXml svg = new SvgXml(MemoryChart.svg("ZeRO-2 memory", ranks));
        List<Element> rects = svg.elements("rect");
        assertEquals(5, rects.size());
        assertEquals(rects.get(0).getAttribute("fill"), rects.get(3).getAttribute("fill"), "parameters colour");
        assertEquals(rects.get(2).getAttribute("fill"), rects.get(4).getAttribute("fill"), "optimizer colour");
        long dashed = svg.elements("line").stream().filter(l -> l.hasAttribute("stroke-dasharray")).count();
        assertEquals(3, dashed, "two rank markers and the legend entry");
        List<String> texts = svg.texts();
        assertTrue(texts.containsAll(List.of("rank 0", "rank <2>", "ZeRO formula", "parameters", "gradients",
                "optimizer", "device memory (MiB)", "0")), texts.toString());
    }

    @Test
    void rejectsNegativeBytes() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new MemoryChart.RankMemory("r0", bytes(-1, 0, 0), 0));
        assertTrue(e.getMessage().contains("expected a named category with bytes >= 0"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new MemoryChart.RankMemory("r0", bytes(0, 0, 0), -5));
    }
}
