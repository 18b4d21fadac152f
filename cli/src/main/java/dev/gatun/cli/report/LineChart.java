package dev.gatun.cli.report;

import java.util.List;
import java.util.Objects;

/**
 * A line chart as a self-contained SVG document, used for the loss curve.
 *
 * <p>The x axis is linear; the y axis linear or logarithmic ({@link Scale}). A linear axis spans the finite points
 * widened to round tick values (steps of 1, 2 or 5 × 10ⁿ, whole numbers when {@code integerX}); a log axis spans
 * them exactly, with ticks at 1, 2, 5 × 10ⁿ (or every digit when those are too few), so one spike does not flatten
 * the rest of the curve. Each series is one {@code <polyline>} in its own colour through its finite points in order
 * (points with a NaN or infinite coordinate, or not positive on a log axis, are skipped); with more than one series
 * a legend names them inside the plot's top right corner.
 */
public final class LineChart {
    private static final int WIDTH = 820;
    private static final int HEIGHT = 480;
    private static final int LEFT = 80;
    private static final int RIGHT = 30;
    private static final int TOP = 50;
    private static final int BOTTOM = 60;

    /** How the y axis maps values. */
    public enum Scale {
        LINEAR, LOG;

        /** {@code linear} or {@code log}. */
        public static Scale parse(String name) {
            return switch (name.strip().toLowerCase(java.util.Locale.ROOT)) {
                case "linear" -> LINEAR;
                case "log" -> LOG;
                default -> throw new IllegalArgumentException("unknown axis scale '" + name + "': use linear or log");
            };
        }
    }

    /** One line: points {@code (x[i], y[i])}. */
    public record Series(String name, double[] x, double[] y) {
        /** @throws IllegalArgumentException if {@code x} and {@code y} differ in length */
        public Series {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(x, "x");
            Objects.requireNonNull(y, "y");
            if (x.length != y.length) {
                throw new IllegalArgumentException("series '" + name + "' has " + x.length + " x values and "
                        + y.length + " y values; expected the same number");
            }
        }
    }

    private LineChart() {
    }

    /** The chart with a linear y axis and real-valued x. */
    public static String svg(String title, String xLabel, String yLabel, List<Series> series) {
        return svg(title, xLabel, yLabel, series, Scale.LINEAR, false);
    }

    /** The chart as an SVG document (UTF-8 XML); {@code integerX} keeps x ticks on whole numbers (steps). */
    public static String svg(String title, String xLabel, String yLabel, List<Series> series, Scale yScale,
                             boolean integerX) {
        boolean log = yScale == Scale.LOG;
        double[] xr = range(series, true, false);
        double[] yr = range(series, false, log);
        Svg.Axis xAxis = Svg.Axis.nice(xr[0], xr[1], integerX);
        Svg.Axis yAxis = log ? null : Svg.Axis.nice(yr[0], yr[1], false);
        double yLo = log ? Math.log10(yr[0]) : yAxis.min();
        double yHi = log ? Math.log10(yr[1]) : yAxis.max();
        if (log && yHi - yLo < 1e-12) {
            yLo -= 0.01;
            yHi += 0.01;
        }
        int plotW = WIDTH - LEFT - RIGHT;
        int plotH = HEIGHT - TOP - BOTTOM;
        double xLo = xAxis.min();
        double xHi = xAxis.max();
        java.util.function.DoubleUnaryOperator px = x -> LEFT + (x - xLo) / (xHi - xLo) * plotW;
        double finalYLo = yLo;
        double finalYHi = yHi;
        java.util.function.DoubleUnaryOperator py = y -> TOP + plotH
                - ((log ? Math.log10(y) : y) - finalYLo) / (finalYHi - finalYLo) * plotH;
        Svg svg = new Svg(WIDTH, HEIGHT, title);

        for (double t : log ? Svg.logTicks(yr[0], yr[1]) : yAxis.ticks()) {
            double y = py.applyAsDouble(t);
            svg.line(LEFT, y, LEFT + plotW, y, "#e0e0e0", "")
                    .line(LEFT - 5, y, LEFT, y, "#000", "")
                    .text(LEFT - 8, y + 4, "end", "class=\"tick y\"", log ? Svg.label(t) : yAxis.label(t));
        }
        for (double t : xAxis.ticks()) {
            double x = px.applyAsDouble(t);
            svg.line(x, TOP + plotH, x, TOP + plotH + 5, "#000", "")
                    .text(x, TOP + plotH + 20, "middle", "class=\"tick x\"", xAxis.label(t));
        }
        svg.line(LEFT, TOP + plotH, LEFT + plotW, TOP + plotH, "#000", "")
                .line(LEFT, TOP, LEFT, TOP + plotH, "#000", "")
                .text(LEFT + plotW / 2.0, HEIGHT - 15, "middle", "", xLabel)
                .text(20, TOP + plotH / 2.0, "middle",
                        "transform=\"rotate(-90 20 " + Svg.num(TOP + plotH / 2.0) + ")\"",
                        log ? yLabel + " (log scale)" : yLabel);

        double legendWidth = series.stream().mapToInt(l -> l.name().length()).max().orElse(0) * 7 + 40;
        for (int s = 0; s < series.size(); s++) {
            Series line = series.get(s);
            StringBuilder points = new StringBuilder();
            for (int i = 0; i < line.x().length; i++) {
                double x = line.x()[i];
                double y = line.y()[i];
                if (Double.isFinite(x) && Double.isFinite(y) && (!log || y > 0)) {
                    if (!points.isEmpty()) {
                        points.append(' ');
                    }
                    points.append(Svg.num(px.applyAsDouble(x))).append(',').append(Svg.num(py.applyAsDouble(y)));
                }
            }
            svg.raw("<polyline fill=\"none\" stroke=\"" + Svg.colour(s) + "\" stroke-width=\"1.5\" points=\""
                    + points + "\"><title>" + Svg.escape(line.name()) + "</title></polyline>\n");
            if (series.size() > 1) {
                svg.legendEntry(LEFT + plotW - legendWidth, TOP + 16 + 20 * s, Svg.colour(s), "", line.name());
            }
        }
        return svg.finish();
    }

    /** {min, max} of the finite points' x (or y) values (only positive y when {@code positive}). */
    private static double[] range(List<Series> series, boolean x, boolean positive) {
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (Series s : series) {
            for (int i = 0; i < s.x().length; i++) {
                if (Double.isFinite(s.x()[i]) && Double.isFinite(s.y()[i]) && (!positive || s.y()[i] > 0)) {
                    double v = x ? s.x()[i] : s.y()[i];
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
            }
        }
        if (min > max) {
            return positive ? new double[] {1, 10} : new double[] {0, 1};
        }
        return new double[] {min, max};
    }
}
