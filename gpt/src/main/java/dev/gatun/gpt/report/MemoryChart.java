package dev.gatun.gpt.report;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Device memory per rank as a self-contained SVG document: one horizontal bar per rank, stacked from the rank's
 * byte counts per category (one colour per category, the same on every rank, named in the legend), with a dashed
 * vertical marker at the bytes the ZeRO formula predicts for that rank. The axis is in MiB (2<sup>20</sup> bytes)
 * from 0 with {@value Svg#TICKS} labelled ticks.
 *
 * <p>Each (rank, category with nonzero bytes) is exactly one {@code <rect>}; nothing else is drawn as a rect.
 */
public final class MemoryChart {
    private static final int WIDTH = 860;
    private static final int LEFT = 120;
    private static final int RIGHT = 220;
    private static final int TOP = 50;
    private static final int BOTTOM = 60;
    private static final int BAR = 26;
    private static final int GAP = 16;
    private static final double MIB = 1 << 20;

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

    /** The chart as an SVG document (UTF-8 XML). */
    public static String svg(String title, List<RankMemory> ranks) {
        List<String> categories = new ArrayList<>();
        double maxMib = 0;
        for (RankMemory r : ranks) {
            for (String c : r.bytesByCategory().keySet()) {
                if (!categories.contains(c)) {
                    categories.add(c);
                }
            }
            maxMib = Math.max(maxMib, Math.max(r.totalBytes(), r.formulaBytes()) / MIB);
        }
        maxMib = maxMib == 0 ? 1 : maxMib * 1.05;

        int plotW = WIDTH - LEFT - RIGHT;
        int plotH = Math.max(1, ranks.size()) * (BAR + GAP);
        // tall enough for the legend too: one row per category plus the formula marker
        int height = Math.max(TOP + plotH + BOTTOM, TOP + 20 * (categories.size() + 1) + 20);
        double scale = plotW / maxMib;
        Svg svg = new Svg(WIDTH, height, title);

        for (double t : Svg.ticks(0, maxMib)) {
            double px = LEFT + t * scale;
            svg.line(px, TOP, px, TOP + plotH, "#e0e0e0", "")
                    .line(px, TOP + plotH, px, TOP + plotH + 5, "#000", "")
                    .text(px, TOP + plotH + 20, "middle", "", Svg.label(t));
        }
        svg.line(LEFT, TOP + plotH, LEFT + plotW, TOP + plotH, "#000", "")
                .line(LEFT, TOP, LEFT, TOP + plotH, "#000", "")
                .text(LEFT + plotW / 2.0, height - 15, "middle", "", "device memory (MiB)");

        for (int i = 0; i < ranks.size(); i++) {
            RankMemory r = ranks.get(i);
            double y = TOP + GAP / 2.0 + i * (BAR + GAP);
            svg.text(LEFT - 8, y + BAR / 2.0 + 4, "end", "", r.label());
            double x = LEFT;
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
                double fx = LEFT + r.formulaBytes() / MIB * scale;
                svg.raw("<line x1=\"" + Svg.num(fx) + "\" y1=\"" + Svg.num(y - 4) + "\" x2=\"" + Svg.num(fx)
                        + "\" y2=\"" + Svg.num(y + BAR + 4) + "\" stroke=\"#000\" stroke-width=\"2\""
                        + " stroke-dasharray=\"5,3\"><title>" + Svg.escape("ZeRO formula: " + mib(r.formulaBytes()))
                        + "</title></line>\n");
            }
        }

        double lx = LEFT + plotW + 20;
        for (int c = 0; c < categories.size(); c++) {
            svg.legendEntry(lx, TOP + 10 + 20 * c, Svg.colour(c), "", categories.get(c));
        }
        svg.legendEntry(lx, TOP + 10 + 20 * categories.size(), "#000", "stroke-dasharray=\"5,3\"", "ZeRO formula");
        return svg.finish();
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / MIB);
    }
}
