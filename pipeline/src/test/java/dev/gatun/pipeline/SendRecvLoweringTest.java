package dev.gatun.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SendRecvLoweringTest {
    @Test
    void oneFOneBSteadyStatePairsTheForwardSendWithTheGradientReceive() {
        Schedule lowered = SendRecvLowering.lower(Schedules.oneFOneB(2, 3));
        assertEquals("0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0B0 0F2 0SEND_F2 0RECV_B1 0B1 0RECV_B2 0B2",
                String.join(" ", lowered.actions(0).stream().map(Action::toString).toList()));
        assertTrue(lowered.steps(0).contains(new Step.Group(List.of(Action.parse("0SEND_F1"),
                Action.parse("0RECV_B0")))), lowered::toString);
        // The last rank receives micro-batch 1 while idle before 1B0, and pairs 1B1's gradient with micro-batch 2.
        assertTrue(lowered.steps(1).contains(new Step.Group(List.of(Action.parse("1RECV_F2"),
                Action.parse("1SEND_B1")))), lowered::toString);
        ScheduleSimulator.validate(lowered);
    }

    @Test
    void singleRankNeedsNoCommunication() {
        Schedule s = Schedules.interleaved1F1B(1, 3, 4);
        Schedule lowered = SendRecvLowering.lower(s);
        assertFalse(lowered.hasCommunication());
        assertEquals(s, lowered);
        assertEquals(0, ScheduleSimulator.validate(lowered).bubbleFraction(0));
    }

    @Test
    void interleavedCrossesFromLastRankBackToRankZero() {
        Schedule lowered = SendRecvLowering.lower(Schedules.interleaved1F1B(2, 2, 2));
        assertTrue(lowered.actions(1).contains(Action.parse("1SEND_F0")));
        assertTrue(lowered.actions(0).contains(Action.parse("2RECV_F0")));
        assertTrue(lowered.actions(0).contains(Action.parse("2SEND_B0")));
        assertTrue(lowered.actions(1).contains(Action.parse("1RECV_B0")));
        ScheduleSimulator.validate(lowered);
    }

    @Test
    void naiveSendAfterReceiveBeforeLoweringDeadlocksInterleavedButThisOneDoesNot() {
        // The per-compute lowering (receive right before, send right after each compute) on interleaved p=2 m=4 v=2
        // deadlocks around the ring; the global-order lowering of the same compute order runs.
        Schedule s = Schedules.interleaved1F1B(2, 4, 2);
        List<List<Action>> naive = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            List<Action> out = new ArrayList<>();
            for (Action c : s.actions(r)) {
                boolean f = c.type() == ActionType.FORWARD;
                int from = f ? c.stage() - 1 : c.stage() + 1;
                int to = f ? c.stage() + 1 : c.stage() - 1;
                if (from >= 0 && from < 4) {
                    out.add(new Action(c.stage(), f ? ActionType.RECV_F : ActionType.RECV_B, c.microBatch()));
                }
                out.add(c);
                if (to >= 0 && to < 4) {
                    out.add(new Action(c.stage(), f ? ActionType.SEND_F : ActionType.SEND_B, c.microBatch()));
                }
            }
            naive.add(out);
        }
        InvalidScheduleException e = assertThrows(InvalidScheduleException.class,
                () -> ScheduleSimulator.validate(new Schedule("naive", 2, 4, 2, naive)));
        assertTrue(e.reason().startsWith("deadlock"), e.getMessage());
        ScheduleSimulator.validate(SendRecvLowering.lower(s));
    }

    @Test
    void rejectsAnAlreadyLoweredSchedule() {
        Schedule lowered = SendRecvLowering.lower(Schedules.gpipe(2, 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SendRecvLowering.lower(lowered));
        assertTrue(e.getMessage().contains("already has send/recv"), e.getMessage());
    }

    @Test
    void rejectsAComputeOrderThatCannotRunEvenBuffered() {
        InvalidScheduleException e = assertThrows(InvalidScheduleException.class, () -> SendRecvLowering.lower(
                Schedule.parse("hand", 2, 2, 1, "0F0 0B0 0F1 0B1", "1F1 1B1 1F0 1B0")));
        assertTrue(e.reason().startsWith("stuck"), e.getMessage());
    }

    @Test
    void rejectsZeroDurations() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SendRecvLowering.lower(Schedules.gpipe(2, 2), CostModel.uniform(1, 0)));
        assertTrue(e.getMessage().contains("durations > 0"), e.getMessage());
    }

    @Test
    void loweredTimelineEqualsBufferedWithEqualDurations() {
        for (Schedule s : List.of(Schedules.gpipe(4, 6), Schedules.oneFOneB(5, 3), Schedules.interleaved1F1B(4, 8, 3))) {
            assertEquals(ScheduleSimulator.simulateBuffered(s, CostModel.uniform(2, 2)).slots(),
                    ScheduleSimulator.simulate(SendRecvLowering.lower(s, CostModel.uniform(2, 2)),
                            CostModel.uniform(2, 2)).slots(), s.summary());
        }
    }
}
