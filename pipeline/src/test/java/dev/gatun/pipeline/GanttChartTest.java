package dev.gatun.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

class GanttChartTest {
    private static Document parse(String svg) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        return f.newDocumentBuilder().parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    }

    private static List<Element> rects(Document doc, String cssClass) {
        NodeList all = doc.getElementsByTagNameNS("http://www.w3.org/2000/svg", "rect");
        List<Element> out = new ArrayList<>();
        for (int i = 0; i < all.getLength(); i++) {
            Element e = (Element) all.item(i);
            if (List.of(e.getAttribute("class").split(" ")).contains(cssClass)) {
                out.add(e);
            }
        }
        return out;
    }

    @Test
    void oneRectanglePerComputeActionForEveryBuilder() throws Exception {
        for (Schedule s : List.of(Schedules.gpipe(4, 8), Schedules.oneFOneB(3, 5), Schedules.oneFOneB(1, 1),
                Schedules.interleaved1F1B(2, 4, 3))) {
            Timeline t = ScheduleSimulator.validate(SendRecvLowering.lower(s));
            Document doc = parse(GanttChart.svg(t));
            int m = s.microBatches();
            int computes = 2 * s.stages() * m;
            assertEquals(computes, rects(doc, "action").size(), s.summary());
            assertEquals(computes / 2, rects(doc, "forward").size());
            assertEquals(computes / 2, rects(doc, "backward").size());
            assertEquals(s.ranks(), rects(doc, "lane").size());
            assertEquals(m + 2, rects(doc, "legend").size());
            for (Element e : rects(doc, "backward")) {
                assertTrue(e.getAttribute("fill").startsWith("url(#hatch-"), e.getAttribute("fill"));
            }
            for (Element e : rects(doc, "forward")) {
                assertTrue(e.getAttribute("fill").matches("#[0-9a-f]{6}"), e.getAttribute("fill"));
            }
        }
    }

    @Test
    void rectanglesFollowTheTimelineAndLeaveBubblesEmpty() throws Exception {
        Schedule s = SendRecvLowering.lower(Schedules.gpipe(2, 2));
        Map<Action, Double> measured = new HashMap<>();
        for (int r = 0; r < 2; r++) {
            for (Action a : s.actions(r)) {
                if (a.isCompute()) {
                    measured.put(a, a.type() == ActionType.FORWARD ? 1.0 : 3.0);
                }
            }
        }
        Timeline t = ScheduleSimulator.simulate(s, CostModel.measured(measured));
        Document doc = parse(GanttChart.svg(t));
        Map<String, Element> byAction = new HashMap<>();
        for (Element e : rects(doc, "action")) {
            byAction.put(e.getAttribute("data-action"), e);
        }
        double scale = Double.parseDouble(byAction.get("0F0").getAttribute("width"));
        assertEquals(3 * scale, Double.parseDouble(byAction.get("0B0").getAttribute("width")), 0.02);
        // Rank 1 is idle for the first forward: its first rectangle starts one forward later than rank 0's.
        double x0 = Double.parseDouble(byAction.get("0F0").getAttribute("x"));
        assertEquals(x0 + scale, Double.parseDouble(byAction.get("1F0").getAttribute("x")), 0.02);
        // Rank 0's backward of micro-batch 0 waits for rank 1's: a gap after 0F1.
        double endOfF1 = Double.parseDouble(byAction.get("0F1").getAttribute("x")) + scale;
        assertTrue(Double.parseDouble(byAction.get("0B0").getAttribute("x")) > endOfF1 + scale);
    }

    @Test
    void escapesTheTitle() throws Exception {
        Schedule s = new Schedule("a<b & \"c\"", 1, 1, 1, List.of(List.of(Action.forward(0, 0), Action.backward(0, 0))));
        String svg = GanttChart.svg(ScheduleSimulator.validate(s));
        assertTrue(parse(svg).getDocumentElement().getTextContent().contains("a<b & \"c\""));
    }

    @Test
    void theUnitAndTheLaneNamesAreShownAndOneRankHasNoBubble() throws Exception {
        Timeline two = ScheduleSimulator.validate(SendRecvLowering.lower(Schedules.oneFOneB(2, 4)));
        String svg = GanttChart.svg(two, new GanttChart.Labels("ms", List.of("stage 0 (ranks 0, 1)",
                "stage 1 (ranks 2, 3)")));
        Document doc = parse(svg);
        String title = texts(doc, "title").getFirst();
        assertTrue(title.matches(".* — makespan [0-9.]+ ms, bubble [0-9.]+%"), title);
        assertEquals(List.of("stage 0 (ranks 0, 1)", "stage 1 (ranks 2, 3)"), texts(doc, "row"));
        assertEquals(List.of("time (ms)"), texts(doc, "axis"));
        Timeline one = ScheduleSimulator.validate(SendRecvLowering.lower(Schedules.oneFOneB(1, 2)));
        String single = texts(parse(GanttChart.svg(one, GanttChart.Labels.of("ms", 1))), "title").getFirst();
        assertFalse(single.contains("bubble"), single);
        assertThrows(IllegalArgumentException.class, () -> GanttChart.svg(two, GanttChart.Labels.of("ms", 3)));
    }

    private static List<String> texts(Document doc, String cssClass) {
        List<String> texts = new java.util.ArrayList<>();
        var nodes = doc.getElementsByTagName("text");
        for (int i = 0; i < nodes.getLength(); i++) {
            Element e = (Element) nodes.item(i);
            if (e.getAttribute("class").equals(cssClass)) {
                texts.add(e.getTextContent());
            }
        }
        return texts;
    }
}
