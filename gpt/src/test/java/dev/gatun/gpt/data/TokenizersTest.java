package dev.gatun.gpt.data;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizersTest {
    @Test
    void findsEachTokenizerByItsName() {
        for (String name : Tokenizers.NAMES) {
            assertEquals(name, Tokenizers.byName(name).name());
        }
    }

    @Test
    void unknownNameListsTheChoices() {
        var e = assertThrows(IllegalArgumentException.class, () -> Tokenizers.byName("bpe"));
        assertTrue(e.getMessage().contains("'bpe'") && e.getMessage().contains("bytes, gpt2"), e.getMessage());
    }
}
