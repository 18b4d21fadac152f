package dev.gatun.gpt.data;

/**
 * Maps text to token ids in {@code [0, vocabSize())} and back.
 *
 * <p>{@code decode(encode(text))} returns {@code text} for every valid string; {@code encode} is deterministic.
 */
public interface Tokenizer {
    /** The name used on the command line and in reports, e.g. {@code "bytes"} or {@code "gpt2"}. */
    String name();

    /** The number of distinct token ids; every id this tokenizer produces is below it. */
    int vocabSize();

    /** Encodes {@code text} into token ids. */
    int[] encode(String text);

    /**
     * Decodes token ids back into text.
     *
     * @throws IllegalArgumentException if a token id is outside {@code [0, vocabSize())}
     */
    String decode(int[] tokens);
}
