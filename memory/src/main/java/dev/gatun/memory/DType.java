package dev.gatun.memory;

import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * Element type of a tensor or buffer.
 *
 * <p>Each type has a fixed size in bytes and a short lower-case name ({@code "fp32"}, {@code "bf16"}, ...) used in
 * configuration, file formats and messages; {@link #parse(String)} reads that name back. The 16-bit floating-point
 * types are stored as their IEEE bit patterns; {@link HalfFloats} converts them to and from {@code float}.
 */
public enum DType {
    /** IEEE 754 binary32. */
    FP32(4, "fp32", true),
    /** bfloat16: binary32's sign and 8-bit exponent with a 7-bit mantissa. */
    BF16(2, "bf16", true),
    /** IEEE 754 binary16: 5-bit exponent, 10-bit mantissa. */
    FP16(2, "fp16", true),
    /** Two's-complement 32-bit integer. */
    INT32(4, "int32", false),
    /** Two's-complement 64-bit integer. */
    INT64(8, "int64", false);

    private final int byteSize;
    private final String shortName;
    private final boolean floatingPoint;

    DType(int byteSize, String shortName, boolean floatingPoint) {
        this.byteSize = byteSize;
        this.shortName = shortName;
        this.floatingPoint = floatingPoint;
    }

    /** Size of one element in bytes. */
    public int byteSize() {
        return byteSize;
    }

    /** The lower-case name that {@link #parse(String)} accepts, e.g. {@code "bf16"}. */
    public String shortName() {
        return shortName;
    }

    /** Whether the type holds floating-point values. */
    public boolean isFloatingPoint() {
        return floatingPoint;
    }

    /**
     * The type with the given short name, ignoring case and surrounding white space.
     *
     * @throws IllegalArgumentException naming the accepted names when {@code name} is none of them
     */
    public static DType parse(String name) {
        Objects.requireNonNull(name, "dtype name must not be null");
        String wanted = name.strip().toLowerCase(Locale.ROOT);
        for (DType type : values()) {
            if (type.shortName.equals(wanted)) {
                return type;
            }
        }
        String accepted = Arrays.stream(values()).map(DType::shortName).collect(Collectors.joining(", "));
        throw new IllegalArgumentException("unknown dtype '" + name + "': expected one of " + accepted);
    }
}
