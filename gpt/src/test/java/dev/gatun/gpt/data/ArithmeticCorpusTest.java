package dev.gatun.gpt.data;

import org.junit.jupiter.api.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArithmeticCorpusTest {
    private static final Pattern LINE = Pattern.compile("(\\d+)([+*])(\\d+)=(\\d+)");

    @Test
    void sameSeedSameTextOtherSeedOtherText() {
        assertEquals(ArithmeticCorpus.generate(7, 200), ArithmeticCorpus.generate(7, 200));
        assertNotEquals(ArithmeticCorpus.generate(7, 200), ArithmeticCorpus.generate(8, 200));
    }

    @Test
    void everyLineIsACorrectEquationInRange() {
        String text = ArithmeticCorpus.generate(42, 2000);
        assertTrue(text.endsWith("\n"));
        String[] lines = text.split("\n");
        assertEquals(2000, lines.length);
        int sums = 0;
        int products = 0;
        for (String line : lines) {
            Matcher m = LINE.matcher(line);
            assertTrue(m.matches(), "malformed line '" + line + "'");
            int a = Integer.parseInt(m.group(1));
            int b = Integer.parseInt(m.group(3));
            int c = Integer.parseInt(m.group(4));
            if (m.group(2).equals("+")) {
                sums++;
                assertTrue(a <= 99 && b <= 99, line);
                assertEquals(a + b, c, line);
            } else {
                products++;
                assertTrue(a <= 12 && b <= 12, line);
                assertEquals(a * b, c, line);
            }
        }
        assertTrue(sums > 800 && products > 800, "sums=" + sums + " products=" + products);
    }

    @Test
    void zeroLinesIsEmpty() {
        assertEquals("", ArithmeticCorpus.generate(1, 0));
    }
}
