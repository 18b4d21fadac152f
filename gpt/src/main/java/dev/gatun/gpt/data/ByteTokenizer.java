package dev.gatun.gpt.data;

import java.nio.charset.StandardCharsets;

/**
 * The simplest tokenizer: one token per UTF-8 byte, so the vocabulary is the 256 byte values.
 *
 * <p>Token {@code t} is the unsigned byte value {@code t}; decoding replaces malformed UTF-8 sequences with U+FFFD.
 */
public final class ByteTokenizer implements Tokenizer {
    /** Vocabulary size: one id per byte value. */
    public static final int VOCAB_SIZE = 256;

    @Override
    public String name() {
        return "bytes";
    }

    @Override
    public int vocabSize() {
        return VOCAB_SIZE;
    }

    @Override
    public int[] encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] tokens = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            tokens[i] = Byte.toUnsignedInt(bytes[i]);
        }
        return tokens;
    }

    @Override
    public String decode(int[] tokens) {
        byte[] bytes = new byte[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            int t = tokens[i];
            if (t < 0 || t >= VOCAB_SIZE) {
                throw new IllegalArgumentException(
                        "token " + t + " at index " + i + " is not a byte; expected an id in [0, " + VOCAB_SIZE + ")");
            }
            bytes[i] = (byte) t;
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return name();
    }
}
