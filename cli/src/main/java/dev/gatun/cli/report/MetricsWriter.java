package dev.gatun.cli.report;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

/**
 * Writes training metrics as JSON Lines: one JSON object per {@link #write} call, on its own line, flushed at once
 * so a crashed or running job leaves every completed record readable.
 *
 * <p>Values may be a {@link Number}, {@link String}, {@link Boolean}, {@code null}, or a {@link List} of numbers
 * (elements may be {@code null}). NaN and ±Infinity, which JSON cannot express, are written as {@code null}.
 * Strings are escaped per RFC 8259: {@code "} and {@code \} are backslash-escaped, control characters below U+0020
 * become {@code \n}, {@code \t}, ... or {@code \}{@code u00XX}; everything else is written as is, in UTF-8.
 * Keys keep the map's iteration order.
 */
public final class MetricsWriter implements AutoCloseable {
    private final Path file;
    private final BufferedWriter out;

    /**
     * Creates (or truncates) {@code file}, creating missing parent directories.
     *
     * @throws UncheckedIOException if the file cannot be opened
     */
    public MetricsWriter(Path file) {
        this.file = file;
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open metrics file " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Appends {@code record} as one line and flushes it.
     *
     * @throws IllegalArgumentException if a value has an unsupported type (see the class comment)
     * @throws UncheckedIOException     if writing fails
     */
    public void write(Map<String, ?> record) {
        String line = toJson(record);
        try {
            out.write(line);
            out.write('\n');
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write metrics file " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * {@code record} as a single-line JSON object, e.g. {@code {"step":3,"loss":2.5,"note":"a\"b"}}.
     *
     * @throws IllegalArgumentException if a key is null or a value has an unsupported type
     */
    public static String toJson(Map<String, ?> record) {
        StringBuilder json = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<String, ?> e : record.entrySet()) {
            if (e.getKey() == null) {
                throw new IllegalArgumentException("metrics record has a null key; expected string keys");
            }
            if (!first) {
                json.append(',');
            }
            first = false;
            appendString(json, e.getKey());
            json.append(':');
            appendValue(json, e.getKey(), e.getValue());
        }
        return json.append('}').toString();
    }

    private static void appendValue(StringBuilder json, String key, Object value) {
        switch (value) {
            case null -> json.append("null");
            case Number n -> appendNumber(json, n);
            case String s -> appendString(json, s);
            case Boolean b -> json.append(b);
            case List<?> list -> {
                json.append('[');
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) {
                        json.append(',');
                    }
                    Object element = list.get(i);
                    if (element == null) {
                        json.append("null");
                    } else if (element instanceof Number n) {
                        appendNumber(json, n);
                    } else {
                        throw new IllegalArgumentException("metric '" + key + "' element " + i + " is a "
                                + element.getClass().getName() + "; expected a List of Number");
                    }
                }
                json.append(']');
            }
            default -> throw new IllegalArgumentException("metric '" + key + "' is a " + value.getClass().getName()
                    + "; expected Number, String, Boolean, null or List of Number");
        }
    }

    private static void appendNumber(StringBuilder json, Number n) {
        switch (n) {
            case Double d -> json.append(Double.isFinite(d) ? d.toString() : "null");
            case Float f -> json.append(Float.isFinite(f) ? f.toString() : "null");
            case Integer i -> json.append(i);
            case Long l -> json.append(l);
            case Short s -> json.append(s);
            case Byte b -> json.append(b);
            case BigInteger b -> json.append(b);
            case BigDecimal b -> json.append(b.toString());
            default -> {
                double d = n.doubleValue();
                json.append(Double.isFinite(d) ? Double.toString(d) : "null");
            }
        }
    }

    private static void appendString(StringBuilder json, String s) {
        json.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> json.append("\\\"");
                case '\\' -> json.append("\\\\");
                case '\n' -> json.append("\\n");
                case '\r' -> json.append("\\r");
                case '\t' -> json.append("\\t");
                case '\b' -> json.append("\\b");
                case '\f' -> json.append("\\f");
                default -> {
                    if (c < 0x20) {
                        json.append(String.format("\\u%04x", (int) c));
                    } else {
                        json.append(c);
                    }
                }
            }
        }
        json.append('"');
    }

    /** Closes the file. */
    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close metrics file " + file + ": " + e.getMessage(), e);
        }
    }
}
