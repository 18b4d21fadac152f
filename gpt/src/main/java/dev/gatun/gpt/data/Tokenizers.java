package dev.gatun.gpt.data;

import java.util.List;

/** Looks tokenizers up by the names used on the command line. */
public final class Tokenizers {
    /** The accepted names, in the order help texts list them. */
    public static final List<String> NAMES = List.of("bytes", "gpt2");

    private Tokenizers() {
    }

    /**
     * Returns the tokenizer called {@code name}: {@code "bytes"} ({@link ByteTokenizer}) or {@code "gpt2"}
     * ({@link Gpt2Tokenizer}).
     *
     * @throws IllegalArgumentException for any other name; the message lists the choices
     */
    public static Tokenizer byName(String name) {
        return switch (name == null ? "" : name) {
            case "bytes" -> new ByteTokenizer();
            case "gpt2" -> new Gpt2Tokenizer();
            default -> throw new IllegalArgumentException(
                    "unknown tokenizer '" + name + "'; expected one of " + String.join(", ", NAMES));
        };
    }
}
