package dev.gatun.cli.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The drawing primitives the charts share: an SVG document built as text, with XML escaping, fixed-precision
 * coordinates and a palette. Swatches are drawn as thick lines so that {@code rect} elements are only data.
 */
final class Svg {
    /** Colours for series and categories (Tableau 10); later indices get hues spaced by the golden angle. */
    private static final String[] PALETTE = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
            "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

    /** Number of ticks on an axis, both ends included. */
    static final int TICKS = 5;

    private final StringBuilder svg = new StringBuilder();

    Svg(int width, int height, String title) {
        svg.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
                .append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(width)
                .append("\" height=\"").append(height).append("\" viewBox=\"0 0 ").append(width).append(' ')
                .append(height).append("\" font-family=\"sans-serif\" font-size=\"12\" style=\"background:#fff\">\n")
                .append("<title>").append(escape(title)).append("</title>\n");
        text(width / 2.0, 24, "middle", "font-size=\"16\" font-weight=\"bold\"", title);
    }

    Svg line(double x1, double y1, double x2, double y2, String stroke, String extra) {
        svg.append("<line x1=\"").append(num(x1)).append("\" y1=\"").append(num(y1)).append("\" x2=\"")
                .append(num(x2)).append("\" y2=\"").append(num(y2)).append("\" stroke=\"").append(stroke)
                .append('"').append(extra.isEmpty() ? "" : " " + extra).append("/>\n");
        return this;
    }

    Svg text(double x, double y, String anchor, String extra, String content) {
        svg.append("<text x=\"").append(num(x)).append("\" y=\"").append(num(y)).append("\" text-anchor=\"")
                .append(anchor).append('"').append(extra.isEmpty() ? "" : " " + extra).append('>')
                .append(escape(content)).append("</text>\n");
        return this;
    }

    /** Appends raw markup; the caller escapes any text in it. */
    Svg raw(String markup) {
        svg.append(markup);
        return this;
    }

    /** A legend entry: a short thick line in {@code stroke} followed by {@code label}. */
    Svg legendEntry(double x, double y, String stroke, String extra, String label) {
        line(x, y - 4, x + 22, y - 4, stroke, "stroke-width=\"4\"" + (extra.isEmpty() ? "" : " " + extra));
        return text(x + 28, y, "start", "", label);
    }

    String finish() {
        return svg.append("</svg>\n").toString();
    }

    /** Colour {@code i} of the palette. */
    static String colour(int i) {
        if (i < PALETTE.length) {
            return PALETTE[i];
        }
        double hue = (i * 137.508) % 360;
        return String.format(Locale.ROOT, "hsl(%.0f,65%%,45%%)", hue);
    }

    /**
     * A linear axis widened from {@code [lo, hi]} to whole multiples of a nice step (1, 2 or 5 × 10ⁿ) so that about
     * {@value #TICKS} ticks fall on round values; with {@code integers} the step is at least 1 and every tick a whole
     * number (e.g. training steps).
     */
    record Axis(double min, double max, double step) {
        static Axis nice(double lo, double hi, boolean integers) {
            if (!(hi > lo)) {
                double pad = lo == 0 ? 1 : Math.abs(lo) * 0.05;
                lo -= pad;
                hi += pad;
            }
            double raw = (hi - lo) / (TICKS - 1);
            double magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
            double step = 10 * magnitude;
            for (double f : new double[]{1, 2, 5}) {
                if (f * magnitude >= raw * 0.999) {
                    step = f * magnitude;
                    break;
                }
            }
            if (integers) {
                step = Math.max(1, Math.round(step));
            }
            return new Axis(Math.floor(lo / step + 1e-9) * step, Math.ceil(hi / step - 1e-9) * step, step);
        }

        /** The tick values, {@code min} to {@code max} by {@code step}. */
        double[] ticks() {
            int n = (int) Math.round((max - min) / step);
            double[] ticks = new double[n + 1];
            for (int i = 0; i <= n; i++) {
                ticks[i] = min + i * step;
            }
            return ticks;
        }

        /** A tick's label with as many decimals as the step needs ({@code 0.5} → one, {@code 20} → none). */
        String label(double v) {
            int decimals = Math.max(0, (int) Math.ceil(-Math.log10(step) - 1e-9));
            String s = String.format(Locale.ROOT, "%." + decimals + "f", v);
            return s.equals("-0") ? "0" : s;
        }
    }

    /**
     * Nice tick values for a log axis over {@code [lo, hi]} ({@code lo > 0}): 1, 2, 5 × 10ⁿ, else every digit, else
     * (less than a decade) round linear steps inside the range.
     */
    static double[] logTicks(double lo, double hi) {
        List<Double> ticks = new ArrayList<>();
        for (double[] mantissas : new double[][]{{1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
            ticks.clear();
            for (int e = (int) Math.floor(Math.log10(lo)); e <= (int) Math.ceil(Math.log10(hi)); e++) {
                for (double m : mantissas) {
                    double v = m * Math.pow(10, e);
                    if (v >= lo * 0.999 && v <= hi * 1.001) {
                        ticks.add(v);
                    }
                }
            }
            if (ticks.size() >= 3) {
                return ticks.stream().mapToDouble(Double::doubleValue).toArray();
            }
        }
        // less than a decade: round linear steps inside the range
        return java.util.Arrays.stream(Axis.nice(lo, hi, false).ticks()).filter(t -> t >= lo * 0.999 && t <= hi * 1.001)
                .toArray();
    }

    /** A tick label: up to 4 significant digits, scientific notation for very large or small magnitudes. */
    static String label(double v) {
        double a = Math.abs(v);
        if (a == 0) {
            return "0";
        }
        if (a >= 1e5 || a < 1e-3) {
            return String.format(Locale.ROOT, "%.2e", v);
        }
        String s = String.format(Locale.ROOT, "%.4g", v);
        if (s.contains(".")) {
            s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
        }
        return s;
    }

    /** A coordinate with two decimals and a '.' separator whatever the default locale. */
    static String num(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    /** {@code text} escaped for XML content and attributes; characters XML 1.0 forbids become U+FFFD. */
    static String escape(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '&' -> out.append("&amp;");
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&apos;");
                default -> out.append(c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0xFFFE || c == 0xFFFF
                        ? '\uFFFD' : c);
            }
        }
        return out.toString();
    }
}
