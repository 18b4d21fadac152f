package dev.gatun.gpt.data;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class Gpt2TokenizerTest {
    private final Gpt2Tokenizer tokenizer = new Gpt2Tokenizer();

    @Test
    void encodesLikeGpt2() {
        assertArrayEquals(new int[] {15496, 995}, tokenizer.encode("Hello world"));
        assertEquals(50257, tokenizer.vocabSize());
        assertEquals("gpt2", tokenizer.name());
    }

    @Test
    void roundTripsText() {
        String text = "37+45=82\n9*7=63\nnaïve ☃ text, with   spaces";
        assertEquals(text, tokenizer.decode(tokenizer.encode(text)));
    }

    @Test
    void specialTokenTextIsOrdinaryText() {
        int[] tokens = tokenizer.encode("a<|endoftext|>b");
        for (int t : tokens) {
            assertFalse(t == 50256, "the literal text must not become the special token");
        }
        assertEquals("a<|endoftext|>b", tokenizer.decode(tokens));
    }
}
