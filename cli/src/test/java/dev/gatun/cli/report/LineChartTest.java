package dev.gatun.cli.report;

import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LineChartTest {
    @Test
    void drawsOnePolylinePerSeriesInDistinctColours() throws Exception {
        List<LineChart.Series> series = List.of(
                new LineChart.Series("train <loss> & \"more\"", new double[] {0, 1, 2, 3}, new double[] {4, 3, 2.5, 2}),
                new LineChart.Series("val", new double[] {0, 2, 3}, new double[] {4.1, Double.NaN, 2.2}),
                new LineChart.Series("empty", new double[0], new double[0]));
        SvgXml svg = new SvgXml(LineChart.svg("Loss & lr", "step", "loss", series));
        assertEquals("svg", svg.rootName());
        List<Element> lines = svg.elements("polyline");
        assertEquals(3, lines.size());
        assertEquals(4, lines.get(0).getAttribute("points").split(" ").length);
        assertEquals(2, lines.get(1).getAttribute("points").split(" ").length, "the NaN point is skipped");
        assertNotEquals(lines.get(0).getAttribute("stroke"), lines.get(1).getAttribute("stroke"));
        List<String> texts = svg.texts();
        assertTrue(texts.containsAll(List.of("Loss & lr", "step", "loss", "train <loss> & \"more\"", "val")), texts.toString());
        assertTrue(texts.containsAll(List.of("0", "1", "2", "3", "4", "5")), "round tick labels: " + texts);
    }

    @Test
    void aLossCurveGetsRoundTicksWholeStepsAndNoLegendForOneSeries() throws Exception {
        double[] x = new double[150];
        double[] y = new double[150];
        for (int i = 0; i < 150; i++) {
            x[i] = i;
            y[i] = 2.241 + 3.3 * Math.exp(-i / 20.0);
        }
        y[30] = 12.61; // one spike
        String text = LineChart.svg("loss", "step", "loss", List.of(new LineChart.Series("loss", x, y)),
                LineChart.Scale.LINEAR, true);
        SvgXml svg = new SvgXml(text);
        assertEquals(List.of("0", "50", "100", "150"), svg.texts("tick x"));
        assertEquals(List.of("0", "5", "10", "15"), svg.texts("tick y"));
        assertEquals(2, svg.texts().stream().filter("loss"::equals).count(),
                "the title and the axis name, no legend for a single series: " + svg.texts());
        SvgXml logged = new SvgXml(LineChart.svg("loss", "step", "loss", List.of(new LineChart.Series("loss", x, y)),
                LineChart.Scale.LOG, true));
        assertEquals(List.of("3", "4", "5", "6", "7", "8", "9", "10"), logged.texts("tick y"));
        assertTrue(logged.texts().contains("loss (log scale)"), logged.texts().toString());
    }

    @Test
    void flatOrEmptyDataStillMakesAChart() throws Exception {
        new SvgXml(LineChart.svg("flat", "x", "y",
                List.of(new LineChart.Series("c", new double[] {1, 1}, new double[] {5, 5}))));
        assertEquals(0, new SvgXml(LineChart.svg("none", "x", "y", List.of())).elements("polyline").size());
    }

    @Test
    void seriesNeedsMatchingLengths() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new LineChart.Series("s", new double[2], new double[3]));
        assertEquals("series 's' has 2 x values and 3 y values; expected the same number", e.getMessage());
    }
}
