package dev.gatun.gpt.data;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ByteTokenizerTest {
    private final ByteTokenizer tokenizer = new ByteTokenizer();

    @Test
    void encodesUtf8BytesAsUnsignedIds() {
        assertArrayEquals(new int[] {'A', 0xC3, 0xA9}, tokenizer.encode("Aé"));
        assertEquals(256, tokenizer.vocabSize());
        assertEquals("bytes", tokenizer.name());
    }

    @Test
    void roundTripsMixedText() {
        String text = "37+45=82\nnaïve ☃ 🚀 <|endoftext|>";
        assertEquals(text, tokenizer.decode(tokenizer.encode(text)));
    }

    @Test
    void rejectsIdsOutsideTheVocabulary() {
        var e = assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(new int[] {65, 256}));
        assertTrue(e.getMessage().contains("[0, 256)"), e.getMessage());
    }
}
