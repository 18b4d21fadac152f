package dev.gatun.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class DTypeTest {
    @Test
    void sizesNamesAndKinds() {
        assertEquals(4, DType.FP32.byteSize());
        assertEquals(2, DType.BF16.byteSize());
        assertEquals(2, DType.FP16.byteSize());
        assertEquals(4, DType.INT32.byteSize());
        assertEquals(8, DType.INT64.byteSize());
        assertEquals("bf16", DType.BF16.shortName());
        assertEquals("int64", DType.INT64.shortName());
        assertTrue(DType.FP16.isFloatingPoint());
        assertFalse(DType.INT32.isFloatingPoint());
    }

    @Test
    void parseReadsEveryShortNameBack() {
        for (DType type : DType.values()) {
            assertEquals(type, DType.parse(type.shortName()));
            assertEquals(type, DType.parse(" " + type.shortName().toUpperCase() + "\n"));
        }
    }

    @Test
    void parseRejectsUnknownNamesListingTheAcceptedOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DType.parse("float8"));
        assertEquals("unknown dtype 'float8': expected one of fp32, bf16, fp16, int32, int64", e.getMessage());
        assertThrows(NullPointerException.class, () -> DType.parse(null));
    }
}
