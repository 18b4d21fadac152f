package dev.gatun.cli.report;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Memory per rank as a self-contained SVG document: one horizontal bar per rank, stacked from the rank's byte counts
 * per category (one colour per category, the same on every rank, named in the legend), and the bytes the ZeRO formula
 * predicts for the categories it counts (the model states) drawn against those categories: a dashed bracket over the
 * bar from 0 to the formula's bytes, so it reads next to the bar's parameter, gradient and optimizer segments. The
 * axis is in MiB (2<sup>20</sup> bytes) from 0 with round ticks (1, 2 or 5 × 10ⁿ); the margins fit the labels.
 *
 * <p>Each (rank, category with nonzero bytes) is exactly one {@code <rect>}; nothing else is drawn as a rect.
 */
public final class MemoryChart {
    private static final int PLOT_WIDTH = 520;
    private static final int TOP = 50;
    private static final int BOTTOM = 60;
    private static final int BAR = 26;
    private static final int GAP = 18;
    private static final double MIB = 1 << 20;
    /** Width of a character of the 12 px sans-serif labels, generously. */
    private static final double CHAR = 7.2;

    /**
     * One rank's bar.
     *
     * @param label           the bar's label, e.g. {@code "rank 0 (dp0 tp1)"}
     * @param bytesByCategory bytes per category, in drawing order (copied); each {@code >= 0}
     * @param formulaBytes    bytes the ZeRO formula predicts for this rank, {@code >= 0}; 0 draws no marker
     */
    public record RankMemory(String label, LinkedHashMap<String, Long> bytesByCategory, long formulaBytes) {
        /** @throws IllegalArgumentException if a byte count is negative or null */
        public RankMemory {
            Objects.requireNonNull(label, "label");
            bytesByCategory = new LinkedHashMap<>(bytesByCategory);
            for (Map.Entry<String, Long> e : bytesByCategory.entrySet()) {
                if (e.getKey() == null || e.getValue() == null || e.getValue() < 0) {
                    throw new IllegalArgumentException("rank '" + label + "' has " + e.getValue() + " bytes for "
                            + "category '" + e.getKey() + "'; expected a named category with bytes >= 0");
                }
            }
            if (formulaBytes < 0) {
                throw new IllegalArgumentException(
                        "rank '" + label + "' has formulaBytes=" + formulaBytes + "; expected >= 0");
            }
        }

        /** The sum of all categories' bytes. */
        public long totalBytes() {
            return bytesByCategory.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    private MemoryChart() {
    }

    /** The chart as an SVG document (UTF-8 XML), with the axis named {@code axisLabel} and the formula's legend
     * entry naming the categories it counts. */
    public static String svg(String title, String axisLabel, String formulaCovers, List<RankMemory> ranks) {
        List<String> categories = new ArrayList<>();
        double maxMib = 0;
        int labelChars = 4;
        for (RankMemory r : ranks) {
            for (String c : r.bytesByCategory().keySet()) {
                if (!categories.contains(c)) {
                    categories.add(c);
                }
            }
            maxMib = Math.max(maxMib, Math.max(r.totalBytes(), r.formulaBytes()) / MIB);
            labelChars = Math.max(labelChars, r.label().length());
        }
        String formulaLegend = "ZeRO formula (" + formulaCovers + ")";
        int legendChars = Math.max(formulaLegend.length(), categories.stream().mapToInt(String::length).max().orElse(0));
        double left = 16 + labelChars * CHAR;
        double right = 90 + legendChars * CHAR;
        int width = (int) Math.ceil(left + PLOT_WIDTH + right);
        Svg.Axis axis = Svg.Axis.nice(0, maxMib == 0 ? 1 : maxMib * 1.08, false);

        int plotH = Math.max(1, ranks.size()) * (BAR + GAP);
        // tall enough for the legend too: one row per category plus the formula marker
        int height = Math.max(TOP + plotH + BOTTOM, TOP + 20 * (categories.size() + 1) + 20);
        double scale = PLOT_WIDTH / axis.max();
        Svg svg = new Svg(width, height, title);

        for (double t : axis.ticks()) {
            double px = left + t * scale;
            svg.line(px, TOP, px, TOP + plotH, "#e0e0e0", "")
                    .line(px, TOP + plotH, px, TOP + plotH + 5, "#000", "")
                    .text(px, TOP + plotH + 20, "middle", "class=\"tick x\"", axis.label(t));
        }
        svg.line(left, TOP + plotH, left + PLOT_WIDTH, TOP + plotH, "#000", "")
                .line(left, TOP, left, TOP + plotH, "#000", "")
                .text(left + PLOT_WIDTH / 2.0, height - 15, "middle", "", axisLabel);

        for (int i = 0; i < ranks.size(); i++) {
            RankMemory r = ranks.get(i);
            double y = TOP + GAP / 2.0 + 2 + i * (BAR + GAP);
            svg.text(left - 8, y + BAR / 2.0 + 4, "end", "class=\"row\"", r.label());
            double x = left;
            for (Map.Entry<String, Long> e : r.bytesByCategory().entrySet()) {
                if (e.getValue() == 0) {
                    continue;
                }
                double w = e.getValue() / MIB * scale;
                svg.raw("<rect x=\"" + Svg.num(x) + "\" y=\"" + Svg.num(y) + "\" width=\"" + Svg.num(w)
                        + "\" height=\"" + BAR + "\" fill=\"" + Svg.colour(categories.indexOf(e.getKey()))
                        + "\"><title>" + Svg.escape(r.label() + ": " + e.getKey() + " " + mib(e.getValue()))
                        + "</title></rect>\n");
                x += w;
            }
            svg.text(x + 6, y + BAR / 2.0 + 4, "start", "font-size=\"10\"", mib(r.totalBytes()));
            if (r.formulaBytes() > 0) {
                double fx = left + r.formulaBytes() / MIB * scale;
                svg.raw("<polyline class=\"formula\" fill=\"none\" points=\"" + Svg.num(left) + "," + Svg.num(y - 5)
                        + " " + Svg.num(fx) + "," + Svg.num(y - 5) + " " + Svg.num(fx) + "," + Svg.num(y + BAR)
                        + "\" stroke=\"#000\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"><title>"
                        + Svg.escape(formulaLegend + ": " + mib(r.formulaBytes())) + "</title></polyline>\n");
            }
        }

        double lx = left + PLOT_WIDTH + 60;
        for (int c = 0; c < categories.size(); c++) {
            svg.legendEntry(lx, TOP + 10 + 20 * c, Svg.colour(c), "", categories.get(c));
        }
        svg.legendEntry(lx, TOP + 10 + 20 * categories.size(), "#000", "stroke-dasharray=\"5,3\"", formulaLegend);
        return svg.finish();
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / MIB);
    }
}
