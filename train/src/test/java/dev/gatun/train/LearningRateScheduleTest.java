package dev.gatun.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LearningRateScheduleTest {
    private static final double MAX = 6e-4;
    private static final double MIN = 6e-5;
    private final LearningRateSchedule schedule = new LearningRateSchedule(MAX, MIN, 10, 110);

    @Test
    void warmsUpLinearly() {
        assertEquals(MAX / 10, schedule.at(0), 1e-15);
        assertEquals(MAX * 5 / 10, schedule.at(4), 1e-15);
        assertEquals(MAX, schedule.at(9), 1e-15);
    }

    @Test
    void decaysByCosineToMin() {
        assertEquals(MAX, schedule.at(10), 1e-15);
        assertEquals((MAX + MIN) / 2, schedule.at(60), 1e-15);
        assertEquals(MIN, schedule.at(110), 1e-15);
        assertEquals(MIN, schedule.at(1000), 1e-15);
        for (long s = 10; s < 110; s++) {
            assertTrue(schedule.at(s + 1) <= schedule.at(s), "not decreasing at " + s);
        }
    }

    @Test
    void noWarmupStartsAtMax() {
        LearningRateSchedule s = new LearningRateSchedule(1.0, 0.0, 0, 4);
        assertEquals(1.0, s.at(0), 1e-15);
        assertEquals(0.5, s.at(2), 1e-15);
        assertEquals(0.0, s.at(4), 1e-15);
    }

    @Test
    void rejectsInvalidArguments() {
        var e = assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(1e-4, 1e-3, 0, 10));
        assertEquals("minLr=0.001 must be in [0, maxLr=1.0E-4]", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(0, 0, 0, 10));
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(Double.NaN, 0, 0, 10));
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(1, 0, 11, 10));
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(1, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> schedule.at(-1));
    }
}
