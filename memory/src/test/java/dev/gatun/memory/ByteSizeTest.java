package dev.gatun.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ByteSizeTest {
    @Test
    void picksTheLargestUnitAtOrAboveOne() {
        assertEquals("0 B", ByteSize.format(0));
        assertEquals("1023 B", ByteSize.format(1023));
        assertEquals("1.00 KiB", ByteSize.format(1024));
        assertEquals("1.50 KiB", ByteSize.format(1536));
        assertEquals("12.00 MiB", ByteSize.format(12L << 20));
        assertEquals("3.25 GiB", ByteSize.format(13L << 28));
        assertEquals("2.00 TiB", ByteSize.format(2L << 40));
        assertEquals("8.00 EiB", ByteSize.format(Long.MAX_VALUE));
    }

    @Test
    void movesUpAUnitWhereRoundingWouldReach1024() {
        assertEquals("1.00 MiB", ByteSize.format((1L << 20) - 1));
        assertEquals("1023.99 KiB", ByteSize.format((1L << 20) - 11));
    }

    @Test
    void rejectsNegativeCounts() {
        assertThrows(IllegalArgumentException.class, () -> ByteSize.format(-1));
    }
}
