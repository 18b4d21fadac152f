package dev.gatun.train.checkpoint;

import dev.gatun.memory.DType;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The safetensors dtype names Gatun reads and writes, with their element sizes. */
public enum SafetensorsDtype {
    F32(4), BF16(2), F16(2), I32(4), I64(8);

    private final int bytes;

    SafetensorsDtype(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** The safetensors name of {@code dtype}. */
    public static SafetensorsDtype of(DType dtype) {
        return switch (dtype) {
            case FP32 -> F32;
            case BF16 -> BF16;
            case FP16 -> F16;
            case INT32 -> I32;
            case INT64 -> I64;
        };
    }

    /** The dtype called {@code name} in a header. */
    static SafetensorsDtype parse(String name, String where) {
        for (SafetensorsDtype d : values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException(where + ": unsupported dtype '" + name + "' (supported: "
                + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ")) + ")");
    }
}
