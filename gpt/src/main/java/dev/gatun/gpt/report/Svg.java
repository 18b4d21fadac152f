package dev.gatun.gpt.report;

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

    /** {@code TICKS} evenly spaced values from {@code min} to {@code max}, both included. */
    static double[] ticks(double min, double max) {
        double[] ticks = new double[TICKS];
        for (int i = 0; i < TICKS; i++) {
            ticks[i] = min + (max - min) * i / (TICKS - 1);
        }
        return ticks;
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
