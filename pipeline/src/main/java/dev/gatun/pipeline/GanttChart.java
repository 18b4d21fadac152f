package dev.gatun.pipeline;

import java.util.List;
import java.util.Locale;

/**
 * Draws a {@link Timeline} as an SVG Gantt chart: one lane per rank, time along x, one rectangle per compute action
 * coloured by micro-batch — forwards filled, backwards (and the input-gradient halves {@code I} of split ones)
 * hatched in the same colour, weight gradients {@code W} pale, each labelled with its printed form ({@code 2F0})
 * where it fits — idle time left empty, an axis in the timeline's units and a legend. Each action's rectangle has
 * class {@code action forward}, {@code action backward}, {@code action backward input} or {@code action weight}, a
 * {@code data-action} attribute and a tooltip with its start and end.
 *
 * <p>Use {@code svg(ScheduleSimulator.simulate(schedule, costs))}, with {@link CostModel#measured} for measured
 * durations, and {@link #svg(Timeline, Labels)} to name the time unit and the lanes. The title gives the makespan
 * in that unit and, with more than one pipeline rank, the mean bubble fraction.
 */
public final class GanttChart {
    private static final double TOP = 44;
    private static final double WIDTH = 960;
    private static final double LANE = 28;
    private static final double GAP = 8;
    private static final double CHAR_WIDTH = 6.2;

    private GanttChart() {
    }

    /**
     * What the chart calls its axis unit and its lanes.
     *
     * @param unit the timeline's time unit, e.g. {@code "ms"}
     * @param rows one name per pipeline rank, e.g. {@code "stage 0 (ranks 0, 1)"}
     */
    public record Labels(String unit, List<String> rows) {
        public Labels {
            java.util.Objects.requireNonNull(unit, "unit");
            rows = List.copyOf(rows);
        }

        /** Lanes named {@code pipeline rank r}, time in {@code unit}. */
        public static Labels of(String unit, int ranks) {
            return new Labels(unit, java.util.stream.IntStream.range(0, ranks).mapToObj(r -> "pipeline rank " + r)
                    .toList());
        }
    }

    /** The chart as a standalone SVG document, time in the cost model's units. */
    public static String svg(Timeline timeline) {
        return svg(timeline, Labels.of("time units", timeline.schedule().ranks()));
    }

    /** The chart as a standalone SVG document, with the unit and lane names of {@code labels}. */
    public static String svg(Timeline timeline, Labels labels) {
        Schedule schedule = timeline.schedule();
        int p = schedule.ranks();
        if (labels.rows().size() != p) {
            throw new IllegalArgumentException(labels.rows().size() + " lane names for " + p + " pipeline ranks");
        }
        double left = 16 + labels.rows().stream().mapToInt(String::length).max().orElse(4) * CHAR_WIDTH;
        int m = schedule.microBatches();
        double makespan = timeline.makespan();
        double scale = makespan > 0 ? WIDTH / makespan : 1;
        double lanesBottom = TOP + p * (LANE + GAP);
        double legendTop = lanesBottom + 48;
        int legendRows = (m + 7) / 8 + 1;
        double height = legendTop + legendRows * 20 + 10;

        StringBuilder svg = new StringBuilder();
        svg.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(num(left + WIDTH + 20))
                .append("\" height=\"").append(num(height)).append("\" font-family=\"sans-serif\" font-size=\"11\">\n");
        svg.append("<defs>\n");
        for (int mb = 0; mb < m; mb++) {
            hatch(svg, "hatch-" + mb, colour(mb));
        }
        hatch(svg, "hatch-legend", "#888888");
        svg.append("</defs>\n");
        svg.append("<text class=\"title\" x=\"").append(num(left)).append("\" y=\"20\" font-size=\"14\">")
                .append(escape(schedule.summary())).append(" — makespan ").append(num(makespan)).append(' ')
                .append(escape(labels.unit())).append(p > 1 ? ", bubble " + percent(timeline, p) : "")
                .append("</text>\n");

        for (int r = 0; r < p; r++) {
            double y = TOP + r * (LANE + GAP);
            svg.append("<text class=\"row\" x=\"8\" y=\"").append(num(y + LANE / 2 + 4)).append("\">")
                    .append(escape(labels.rows().get(r))).append("</text>\n");
            svg.append("<rect class=\"lane\" x=\"").append(num(left)).append("\" y=\"").append(num(y))
                    .append("\" width=\"").append(num(WIDTH)).append("\" height=\"").append(num(LANE))
                    .append("\" fill=\"#f4f4f4\"/>\n");
            for (Timeline.Slot slot : timeline.slots().get(r)) {
                action(svg, slot, left, y, scale);
            }
        }
        axis(svg, makespan, left, scale, lanesBottom, labels.unit());
        boolean split = timeline.slots().stream().flatMap(List::stream)
                .anyMatch(slot -> slot.action().type() == ActionType.BACKWARD_WEIGHT);
        legend(svg, m, split, left, legendTop);
        svg.append("</svg>\n");
        return svg.toString();
    }

    private static void action(StringBuilder svg, Timeline.Slot slot, double left, double y, double scale) {
        Action a = slot.action();
        boolean forward = a.type() == ActionType.FORWARD;
        boolean weight = a.type() == ActionType.BACKWARD_WEIGHT;
        double x = left + slot.start() * scale;
        double w = slot.duration() * scale;
        // forward solid, backward (or its input half) hatched, weight gradient pale: each in its micro-batch's colour
        String fill = forward || weight ? colour(a.microBatch()) : "url(#hatch-" + a.microBatch() + ")";
        String kind = switch (a.type()) {
            case FORWARD -> "forward";
            case BACKWARD_INPUT -> "backward input";
            case BACKWARD_WEIGHT -> "weight";
            default -> "backward";
        };
        svg.append("<rect class=\"action ").append(kind).append("\" data-action=\"")
                .append(a).append("\" x=\"").append(num(x)).append("\" y=\"").append(num(y + 2))
                .append("\" width=\"").append(num(w)).append("\" height=\"").append(num(LANE - 4))
                .append("\" fill=\"").append(fill).append(weight ? "\" fill-opacity=\"0.45" : "")
                .append("\" stroke=\"#333333\" stroke-width=\"0.6\"><title>")
                .append(a).append(": ").append(num(slot.start())).append(" – ").append(num(slot.end()))
                .append("</title></rect>\n");
        String label = a.toString();
        if (w >= label.length() * CHAR_WIDTH + 4) {
            svg.append("<text class=\"label\" x=\"").append(num(x + w / 2)).append("\" y=\"")
                    .append(num(y + LANE / 2 + 4)).append("\" text-anchor=\"middle\">").append(label)
                    .append("</text>\n");
        }
    }

    private static void axis(StringBuilder svg, double makespan, double left, double scale, double y, String unit) {
        svg.append("<line x1=\"").append(num(left)).append("\" y1=\"").append(num(y)).append("\" x2=\"")
                .append(num(left + WIDTH)).append("\" y2=\"").append(num(y)).append("\" stroke=\"#333333\"/>\n");
        svg.append("<text class=\"axis\" x=\"").append(num(left + WIDTH / 2)).append("\" y=\"").append(num(y + 32))
                .append("\" text-anchor=\"middle\">time (").append(escape(unit)).append(")</text>\n");
        double step = niceStep(makespan / 10);
        for (double t = 0; t <= makespan + step / 1e6 && step > 0; t += step) {
            double x = left + t * scale;
            svg.append("<line x1=\"").append(num(x)).append("\" y1=\"").append(num(y)).append("\" x2=\"")
                    .append(num(x)).append("\" y2=\"").append(num(y + 4)).append("\" stroke=\"#333333\"/>\n");
            svg.append("<text x=\"").append(num(x)).append("\" y=\"").append(num(y + 16))
                    .append("\" text-anchor=\"middle\">").append(num(t)).append("</text>\n");
        }
    }

    private static void legend(StringBuilder svg, int m, boolean split, double left, double top) {
        swatch(svg, left, top, "#888888", "forward");
        swatch(svg, left + 90, top, "url(#hatch-legend)", "backward");
        if (split) {
            svg.append("<rect class=\"legend\" x=\"").append(num(left + 180)).append("\" y=\"").append(num(top))
                    .append("\" width=\"14\" height=\"14\" fill=\"#888888\" fill-opacity=\"0.45\" stroke=\"#333333\""
                            + " stroke-width=\"0.6\"/>\n<text x=\"").append(num(left + 198)).append("\" y=\"")
                    .append(num(top + 11)).append("\">weight gradient (W; I: input gradient, hatched)</text>\n");
        }
        for (int mb = 0; mb < m; mb++) {
            swatch(svg, left + (mb % 8) * 110, top + 20 * (1 + mb / 8), colour(mb), "micro-batch " + mb);
        }
    }

    private static void swatch(StringBuilder svg, double x, double y, String fill, String text) {
        svg.append("<rect class=\"legend\" x=\"").append(num(x)).append("\" y=\"").append(num(y))
                .append("\" width=\"14\" height=\"14\" fill=\"").append(fill).append("\" stroke=\"#333333\""
                        + " stroke-width=\"0.6\"/>\n");
        svg.append("<text x=\"").append(num(x + 18)).append("\" y=\"").append(num(y + 11)).append("\">")
                .append(text).append("</text>\n");
    }

    private static void hatch(StringBuilder svg, String id, String colour) {
        svg.append("<pattern id=\"").append(id).append("\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\""
                        + " patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"").append(colour)
                .append("\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#ffffff\" stroke-width=\"2.5\"/>"
                        + "</pattern>\n");
    }

    /** Mean bubble fraction over ranks, as a percentage. */
    private static String percent(Timeline timeline, int p) {
        double sum = 0;
        for (int r = 0; r < p; r++) {
            sum += timeline.bubbleFraction(r);
        }
        return String.format(Locale.ROOT, "%.1f%%", 100 * sum / p);
    }

    /** Distinct colours for neighbouring micro-batches: hues a golden angle apart. */
    static String colour(int microBatch) {
        double h = (microBatch * 137.508) % 360 / 60;
        double s = 0.6;
        double l = 0.6;
        double c = (1 - Math.abs(2 * l - 1)) * s;
        double x = c * (1 - Math.abs(h % 2 - 1));
        double[] rgb = switch ((int) h) {
            case 0 -> new double[] {c, x, 0};
            case 1 -> new double[] {x, c, 0};
            case 2 -> new double[] {0, c, x};
            case 3 -> new double[] {0, x, c};
            case 4 -> new double[] {x, 0, c};
            default -> new double[] {c, 0, x};
        };
        double base = l - c / 2;
        return String.format(Locale.ROOT, "#%02x%02x%02x", Math.round((rgb[0] + base) * 255),
                Math.round((rgb[1] + base) * 255), Math.round((rgb[2] + base) * 255));
    }

    private static double niceStep(double raw) {
        if (!(raw > 0)) {
            return 0;
        }
        double magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double f : List.of(1.0, 2.0, 5.0)) {
            if (f * magnitude >= raw) {
                return f * magnitude;
            }
        }
        return 10 * magnitude;
    }

    private static String num(double v) {
        String s = String.format(Locale.ROOT, "%.2f", v);
        return s.contains(".") ? s.replaceAll("0+$", "").replaceAll("\\.$", "") : s;
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
