package dev.gatun.gpt.report;

import java.util.List;
import java.util.Objects;

/**
 * A line chart as a self-contained SVG document, used for the loss curve.
 *
 * <p>Both axes are linear over the range of the finite points, with {@value Svg#TICKS} evenly spaced, labelled
 * ticks each. Each series is one {@code <polyline>} in its own colour through its finite points in order (points
 * with a NaN or infinite coordinate are skipped), and has an entry in the legend at the right.
 */
public final class LineChart {
    private static final int WIDTH = 820;
    private static final int HEIGHT = 480;
    private static final int LEFT = 80;
    private static final int RIGHT = 200;
    private static final int TOP = 50;
    private static final int BOTTOM = 60;

    /**
     * One line: points {@code (x[i], y[i])}.
     *
     * @throws IllegalArgumentException if {@code x} and {@code y} differ in length
     */
    public record Series(String name, double[] x, double[] y) {
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

    /** The chart as an SVG document (UTF-8 XML). */
    public static String svg(String title, String xLabel, String yLabel, List<Series> series) {
        double[] xr = range(series, true);
        double[] yr = range(series, false);
        int plotW = WIDTH - LEFT - RIGHT;
        int plotH = HEIGHT - TOP - BOTTOM;
        Svg svg = new Svg(WIDTH, HEIGHT, title);

        for (double t : Svg.ticks(yr[0], yr[1])) {
            double py = TOP + plotH - (t - yr[0]) / (yr[1] - yr[0]) * plotH;
            svg.line(LEFT, py, LEFT + plotW, py, "#e0e0e0", "")
                    .line(LEFT - 5, py, LEFT, py, "#000", "")
                    .text(LEFT - 8, py + 4, "end", "", Svg.label(t));
        }
        for (double t : Svg.ticks(xr[0], xr[1])) {
            double px = LEFT + (t - xr[0]) / (xr[1] - xr[0]) * plotW;
            svg.line(px, TOP + plotH, px, TOP + plotH + 5, "#000", "")
                    .text(px, TOP + plotH + 20, "middle", "", Svg.label(t));
        }
        svg.line(LEFT, TOP + plotH, LEFT + plotW, TOP + plotH, "#000", "")
                .line(LEFT, TOP, LEFT, TOP + plotH, "#000", "")
                .text(LEFT + plotW / 2.0, HEIGHT - 15, "middle", "", xLabel)
                .text(20, TOP + plotH / 2.0, "middle",
                        "transform=\"rotate(-90 20 " + Svg.num(TOP + plotH / 2.0) + ")\"", yLabel);

        for (int s = 0; s < series.size(); s++) {
            Series line = series.get(s);
            StringBuilder points = new StringBuilder();
            for (int i = 0; i < line.x().length; i++) {
                double x = line.x()[i];
                double y = line.y()[i];
                if (Double.isFinite(x) && Double.isFinite(y)) {
                    if (!points.isEmpty()) {
                        points.append(' ');
                    }
                    points.append(Svg.num(LEFT + (x - xr[0]) / (xr[1] - xr[0]) * plotW)).append(',')
                            .append(Svg.num(TOP + plotH - (y - yr[0]) / (yr[1] - yr[0]) * plotH));
                }
            }
            svg.raw("<polyline fill=\"none\" stroke=\"" + Svg.colour(s) + "\" stroke-width=\"1.5\" points=\""
                    + points + "\"><title>" + Svg.escape(line.name()) + "</title></polyline>\n");
            svg.legendEntry(LEFT + plotW + 20, TOP + 10 + 20 * s, Svg.colour(s), "", line.name());
        }
        return svg.finish();
    }

    /** {min, max} of the finite points' x (or y) values, widened so that min < max. */
    private static double[] range(List<Series> series, boolean x) {
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (Series s : series) {
            for (int i = 0; i < s.x().length; i++) {
                if (Double.isFinite(s.x()[i]) && Double.isFinite(s.y()[i])) {
                    double v = x ? s.x()[i] : s.y()[i];
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
            }
        }
        if (min > max) {
            return new double[] {0, 1};
        }
        if (min == max) {
            double pad = min == 0 ? 1 : Math.abs(min) * 0.05;
            return new double[] {min - pad, max + pad};
        }
        return new double[] {min, max};
    }
}
