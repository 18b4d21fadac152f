package dev.gatun.zero;

import dev.gatun.memory.DType;
import dev.gatun.memory.Shape;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shard, FlatLayout, PrecisionPolicy, DynamicLossScaler and the stage formulas. */
class SmallPartsTest {
    @Test
    void shardSplitsEvenlyAndRejectsUnpadded() {
        assertEquals(new Shard(30, 10), Shard.of(40, 4, 3));
        assertEquals(40, Shard.of(40, 4, 3).end());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Shard.of(39, 4, 0));
        assertTrue(e.getMessage().contains("pad"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Shard.of(40, 4, 4));
    }

    @Test
    void layoutPadsEachUnitAndPlacesShards() {
        FlatLayout l = TinyMlp.layout(4);
        assertEquals(39, l.numel());
        assertEquals(24 + 16, l.paddedNumel()); // layer1 24 (no padding), layer2 15 -> 16
        assertEquals(10, l.shardNumel());
        assertEquals(new Shard(12, 4), l.shard(1, 3));
        assertEquals(6, l.units().get(1).shardOffset());
        FlatLayout.Entry b2 = l.entry("b2");
        assertEquals(1, b2.unit());
        assertEquals(12, b2.offset());
        assertThrows(IllegalArgumentException.class, () -> l.entry("nope"));
        Map<String, Map<String, Shape>> dup = new LinkedHashMap<>();
        dup.put("a", Map.of("x", Shape.of(2)));
        dup.put("b", Map.of("x", Shape.of(2)));
        assertThrows(IllegalArgumentException.class, () -> FlatLayout.ofUnits(dup, 2));
        assertTrue(l.toString().contains("layer2"), l.toString());
    }

    @Test
    void policiesRejectInconsistentDtypes() {
        assertThrows(IllegalArgumentException.class, () -> new PrecisionPolicy("x", DType.BF16, false, false));
        assertThrows(IllegalArgumentException.class, () -> new PrecisionPolicy("x", DType.FP32, true, false));
        assertThrows(IllegalArgumentException.class, () -> new PrecisionPolicy("x", DType.INT32, false, false));
    }

    @Test
    void formulasAreThePapers() {
        long psi = 1_000_000;
        int n = 8;
        PrecisionPolicy mixed = PrecisionPolicy.BF16_MIXED;
        assertEquals(16 * psi, ZeroStage.NONE.modelStateBytes(psi, n, mixed));
        assertEquals(4 * psi + 12 * psi / n, ZeroStage.ONE.modelStateBytes(psi, n, mixed));
        assertEquals(2 * psi + 14 * psi / n, ZeroStage.TWO.modelStateBytes(psi, n, mixed));
        assertEquals(16 * psi / n, ZeroStage.THREE.modelStateBytes(psi, n, mixed));
        assertEquals(2 * psi, ZeroStage.TWO.communicatedElements(psi));
        assertEquals(3 * psi, ZeroStage.THREE.communicatedElements(psi));
    }

    @Test
    void lossScalerHalvesOnOverflowAndGrowsAfterTheWindow() {
        DynamicLossScaler s = new DynamicLossScaler();
        assertEquals(65536f, s.scale());
        s.update(true);
        assertEquals(32768f, s.scale());
        for (int i = 0; i < 1999; i++) {
            s.update(false);
        }
        assertEquals(32768f, s.scale());
        s.update(false);
        assertEquals(65536f, s.scale());
        assertEquals(0, s.cleanSteps());
        DynamicLossScaler floor = new DynamicLossScaler(2f, 2f, 10, 1f);
        floor.update(true);
        floor.update(true);
        assertEquals(1f, floor.scale(), "never below the minimum");
        assertThrows(IllegalArgumentException.class, () -> new DynamicLossScaler(1f, 1f, 10, 1f));
    }
}
