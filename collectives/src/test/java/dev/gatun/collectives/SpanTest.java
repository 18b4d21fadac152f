package dev.gatun.collectives;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SpanTest {
    @Test
    void partsCoverEveryElementOnceInOrderOnBlockBoundaries() {
        for (long n : new long[] {0, 1, 7, 15, 16, 17, 101, 1009, 4096, 100_003}) {
            for (int parts = 1; parts <= 9; parts++) {
                long next = 0;
                for (int p = 0; p < parts; p++) {
                    Span s = Span.of(p, parts, n);
                    assertEquals(next, s.offset(), "n=" + n + " part " + p + "/" + parts);
                    assertTrue(s.length() >= 0);
                    assertTrue(s.offset() % Span.BLOCK == 0 || s.length() == 0);
                    next = s.offset() + s.length();
                }
                assertEquals(n, next, "n=" + n + " parts=" + parts);
            }
        }
    }

    @Test
    void partsDifferByAtMostOneBlock() {
        long n = 16 * 10 + 3; // 11 blocks, the last one partial, over 4 parts: 3, 3, 3, 2 blocks
        long[] blocks = new long[4];
        for (int p = 0; p < 4; p++) {
            blocks[p] = (Span.of(p, 4, n).length() + Span.BLOCK - 1) / Span.BLOCK;
        }
        assertArrayEquals(new long[] {3, 3, 3, 2}, blocks);
    }
}
