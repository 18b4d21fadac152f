package dev.gatun.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every builder for p in 1..8, m in 1..16, v in 1..4: lowered, validated, figures equal to the formulas, every action
 * round-trips through its printed form.
 */
class SchedulesTest {
    private static final double EPS = 1e-12;
    private static final CostModel UNIT = CostModel.uniform(1, 1);
    private static final CostModel BACKWARD_TWICE = CostModel.uniform(1, 2);

    static Stream<Arguments> pm() {
        return IntStream.rangeClosed(1, 8).boxed()
                .flatMap(p -> IntStream.rangeClosed(1, 16).mapToObj(m -> Arguments.of(p, m)));
    }

    static Stream<Arguments> pmv() {
        return pm().flatMap(a -> IntStream.rangeClosed(1, 4).mapToObj(v -> Arguments.of(a.get()[0], a.get()[1], v)));
    }

    @ParameterizedTest(name = "GPipe p={0} m={1}")
    @MethodSource("pm")
    void gpipe(int p, int m) {
        Schedule schedule = Schedules.gpipe(p, m);
        checkNonInterleaved(schedule, p, m);
        Timeline t = ScheduleSimulator.validate(SendRecvLowering.lower(schedule));
        for (int r = 0; r < p; r++) {
            assertEquals(m, t.peakInFlight(r), "stage " + r);
            assertEquals(m, t.peakInFlightOnRank(r));
        }
    }

    @ParameterizedTest(name = "1F1B p={0} m={1}")
    @MethodSource("pm")
    void oneFOneB(int p, int m) {
        Schedule schedule = Schedules.oneFOneB(p, m);
        checkNonInterleaved(schedule, p, m);
        Timeline t = ScheduleSimulator.validate(SendRecvLowering.lower(schedule));
        for (int r = 0; r < p; r++) {
            assertEquals(Math.min(m, p - r), t.peakInFlight(r), "stage " + r);
            List<Action> actions = schedule.actions(r);
            int warmup = Math.min(p - r - 1, m);
            assertTrue(actions.subList(0, warmup).stream().allMatch(a -> a.type() == ActionType.FORWARD));
            assertEquals(warmup == m ? ActionType.BACKWARD : ActionType.FORWARD, actions.get(warmup).type());
        }
    }

    /** Bubble (p−1)/(m+p−1) on every rank, B = F and B = 2F, buffered and with the lowered blocking sends. */
    private static void checkNonInterleaved(Schedule schedule, int p, int m) {
        checkShape(schedule, p, m, 1);
        double fraction = (p - 1.0) / (m + p - 1);
        double overIdeal = (p - 1.0) / m;
        for (CostModel costs : List.of(UNIT, BACKWARD_TWICE)) {
            Schedule lowered = SendRecvLowering.lower(schedule, costs);
            for (Timeline t : List.of(ScheduleSimulator.simulate(lowered, costs),
                    ScheduleSimulator.simulateBuffered(schedule, costs))) {
                for (int r = 0; r < p; r++) {
                    assertEquals(fraction, t.bubbleFraction(r), EPS, schedule.summary() + " rank " + r);
                    assertEquals(overIdeal, t.bubbleOverIdeal(r), EPS, schedule.summary() + " rank " + r);
                }
            }
        }
    }

    @ParameterizedTest(name = "interleaved p={0} m={1} v={2}")
    @MethodSource("pmv")
    void interleaved(int p, int m, int v) {
        if (v == 1) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Schedules.interleaved1F1B(p, m, v));
            assertTrue(e.getMessage().contains("interleaved 1F1B needs v >= 2 model chunks per rank, got v=1"),
                    e.getMessage());
            return;
        }
        if (m % p != 0) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Schedules.interleaved1F1B(p, m, v));
            assertTrue(e.getMessage().contains("interleaved 1F1B needs m (=" + m + ") to be a multiple of p (=" + p
                    + ")"), e.getMessage());
            return;
        }
        Schedule schedule = Schedules.interleaved1F1B(p, m, v);
        checkShape(schedule, p, m, v);
        double fraction = (p - 1.0) / (v * m + p - 1);
        double overIdeal = (p - 1.0) / (v * m);
        Schedule lowered = SendRecvLowering.lower(schedule);
        Timeline unit = ScheduleSimulator.validate(lowered);
        Timeline buffered = ScheduleSimulator.simulateBuffered(schedule, BACKWARD_TWICE);
        Timeline blocking = ScheduleSimulator.simulate(SendRecvLowering.lower(schedule, BACKWARD_TWICE),
                BACKWARD_TWICE);
        assertTrue(blocking.makespan() >= buffered.makespan());
        for (int r = 0; r < p; r++) {
            for (Timeline t : List.of(unit, buffered)) {
                assertEquals(fraction, t.bubbleFraction(r), EPS, schedule.summary() + " rank " + r);
                assertEquals(overIdeal, t.bubbleOverIdeal(r), EPS, schedule.summary() + " rank " + r);
            }
            int warmup = m == p ? v * m : Math.min((v - 1) * p + 2 * (p - r - 1), v * m);
            assertEquals(Math.min(warmup + 1, v * m), unit.peakInFlightOnRank(r), "rank " + r);
        }
    }

    @Test
    void interleavedWithBackwardTwiceForwardPaysForBlockingSendsOnlyWhereNoCommonIdleInstantExists() {
        for (int p : new int[] {3, 4}) {
            Schedule schedule = Schedules.interleaved1F1B(p, 2 * p, 2);
            Timeline blocking = ScheduleSimulator.simulate(SendRecvLowering.lower(schedule, BACKWARD_TWICE),
                    BACKWARD_TWICE);
            assertEquals((2 * 2 * p + p - 1) * 3.0, blocking.makespan(), "p=" + p);
        }
        Schedule schedule = Schedules.interleaved1F1B(2, 4, 2);
        Timeline blocking = ScheduleSimulator.simulate(SendRecvLowering.lower(schedule, BACKWARD_TWICE),
                BACKWARD_TWICE);
        assertTrue(blocking.makespan() > ScheduleSimulator.simulateBuffered(schedule, BACKWARD_TWICE).makespan());
    }

    @Test
    void interleavedFollowsMegatronOrder() {
        // p=2, m=4, v=2, rank 0: warm-up (v-1)p + 2(p-1) = 4 forwards: mb 0,1 on chunk 0, then mb 0,1 on chunk 1.
        Schedule s = Schedules.interleaved1F1B(2, 4, 2);
        assertEquals("0F0 0F1 2F0 2F1 0F2 2B0 0F3 2B1 2F2 0B0 2F3 0B1 2B2 2B3 0B2 0B3",
                String.join(" ", s.actions(0).stream().map(Action::toString).toList()));
    }

    @Test
    void rejectsEmptyPipelines() {
        assertThrows(IllegalArgumentException.class, () -> Schedules.gpipe(0, 4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Schedules.oneFOneB(2, 0));
        assertTrue(e.getMessage().contains("m >= 1"), e.getMessage());
    }

    /**
     * Each stage runs every micro-batch forward and backward once on its own rank, lowering keeps each rank's compute
     * order, and every action (compute and communication) parses back from its printed form.
     */
    private static void checkShape(Schedule schedule, int p, int m, int v) {
        assertEquals(p, schedule.ranks());
        assertEquals(m, schedule.microBatches());
        assertEquals(v, schedule.stagesPerRank());
        Schedule lowered = SendRecvLowering.lower(schedule);
        for (int r = 0; r < p; r++) {
            assertEquals(2 * v * m, schedule.actions(r).size());
            final int rank = r;
            assertTrue(schedule.actions(r).stream().allMatch(a -> schedule.rankOf(a.stage()) == rank));
            assertEquals(schedule.actions(r), lowered.actions(r).stream().filter(Action::isCompute).toList());
            for (Action a : lowered.actions(r)) {
                assertEquals(a, Action.parse(a.toString()));
            }
        }
    }
}
