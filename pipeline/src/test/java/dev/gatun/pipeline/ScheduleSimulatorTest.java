package dev.gatun.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Malformed schedules are caught with the reason and the step table, the failing step marked. */
class ScheduleSimulatorTest {
    private static InvalidScheduleException invalid(Schedule schedule) {
        return assertThrows(InvalidScheduleException.class, () -> ScheduleSimulator.validate(schedule));
    }

    /** The message holds the reason, then the table whose marked row has {@code cell} in brackets. */
    private static void assertMarked(InvalidScheduleException e, String reasonPart, String... cells) {
        assertTrue(e.reason().contains(reasonPart), e.getMessage());
        assertTrue(e.getMessage().startsWith(e.reason() + "\n" + e.table()), e.getMessage());
        List<String> marked = Arrays.stream(e.table().split("\n")).filter(l -> l.endsWith("<-- ERROR HERE")).toList();
        assertEquals(cells.length, e.table().chars().filter(c -> c == '[').count(), e.getMessage());
        for (String cell : cells) {
            assertTrue(marked.stream().anyMatch(l -> l.contains("[" + cell + "]")), cell + " not marked:\n" + e);
        }
    }

    @Test
    void validLoweredScheduleRuns() {
        Timeline t = ScheduleSimulator.validate(Schedule.parse("hand", 2, 1, 1,
                "0F0 0SEND_F0 0RECV_B0 0B0",
                "1RECV_F0 1F0 1B0 1SEND_B0"));
        assertEquals(4, t.makespan());
        assertEquals(List.of(new Timeline.Slot(Action.forward(1, 0), 1, 2), new Timeline.Slot(Action.backward(1, 0), 2, 3)),
                t.slots().get(1));
    }

    @Test
    void backwardBeforeForward() {
        InvalidScheduleException e = invalid(Schedule.parse("hand", 1, 1, 1, "0B0 0F0"));
        assertMarked(e, "0B0 runs before its forward 0F0", "0B0");
        assertTrue(e.reason().startsWith("rank 0 step 0:"), e.reason());
    }

    @Test
    void backwardBeforeItsOutputGradientOnTheSameRank() {
        // p = 1, v = 2: stages 0 and 1 both on rank 0; 0B0 needs 1B0 first.
        InvalidScheduleException e = invalid(Schedule.parse("hand", 1, 1, 2, "0F0 1F0 0B0 1B0"));
        assertMarked(e, "0B0 runs before its output gradient: 1B0 (same rank 0) has not run yet", "0B0");
    }

    @Test
    void missingReceiveOfASentTensor() {
        InvalidScheduleException e = invalid(Schedule.parse("hand", 2, 1, 1,
                "0F0 0SEND_F0 0RECV_B0 0B0",
                "1F0 1B0 1SEND_B0"));
        assertMarked(e, "0SEND_F0 has no matching 1RECV_F0 on rank 1", "0SEND_F0+0RECV_B0");
    }

    @Test
    void missingSendAndReceive() {
        InvalidScheduleException e = invalid(Schedule.parse("hand", 2, 1, 1,
                "0F0 0RECV_B0 0B0",
                "1F0 1B0 1SEND_B0"));
        assertMarked(e, "1F0 runs before its input activation from 0F0 on rank 0 arrived: there is no 1RECV_F0 on"
                + " rank 1", "1F0");
    }

    @Test
    void computeOnlyScheduleIsToldToLower() {
        InvalidScheduleException e = invalid(Schedules.oneFOneB(2, 2));
        assertMarked(e, "0B0 runs before its output gradient from 1B0 on rank 1 arrived: there is no 0RECV_B0 on rank 0"
                + " (the schedule has no sends/receives: lower it with SendRecvLowering.lower)", "0B0");
    }

    @Test
    void receiveIssuedAfterTheComputeThatNeedsIt() {
        InvalidScheduleException e = invalid(Schedule.parse("hand", 2, 1, 1,
                "0F0 0SEND_F0 0RECV_B0 0B0",
                "1F0 1RECV_F0 1B0 1SEND_B0"));
        assertMarked(e, "1RECV_F0 comes later, at step 1", "1F0");
    }

    @Test
    void sendsAndReceivesInACycleDeadlock() {
        // Rank 0 waits for the gradient of micro-batch 1 before it sends micro-batch 1; rank 1 needs micro-batch 1 to
        // make that gradient.
        InvalidScheduleException e = invalid(Schedule.parse("hand", 2, 2, 1,
                "0F0 0F1 0SEND_F0 0RECV_B1 0B1 0SEND_F1 0RECV_B0 0B0",
                "1RECV_F0 1F0 1RECV_F1 1F1 1B1 1SEND_B1 1B0 1SEND_B0"));
        assertMarked(e, "deadlock", "0SEND_F0+0RECV_B1", "1RECV_F1");
        assertTrue(e.reason().contains("rank 0 step 2: 0RECV_B1 waits for 1SEND_B1 (rank 1 step 5), but rank 1 is"
                + " blocked at step 2 on 1RECV_F1"), e.reason());
        assertTrue(e.reason().contains("rank 1 step 2: 1RECV_F1 waits for 0SEND_F1 (rank 0 step 4), but rank 0 is"
                + " blocked at step 2 on 0SEND_F0+0RECV_B1"), e.reason());
    }

    @Test
    void receivesInAnotherOrderThanTheSends() {
        InvalidScheduleException e = invalid(Schedule.parse("hand", 2, 2, 1,
                "0F0 0F1 0SEND_F0 0SEND_F1 0RECV_B0 0B0 0RECV_B1 0B1",
                "1RECV_F1 1RECV_F0 1F0 1B0 1SEND_B0 1F1 1B1 1SEND_B1"));
        assertMarked(e, "rank 0 sends to rank 1 in another order than rank 1 receives: send #0 is 0SEND_F0",
                "0SEND_F0+0SEND_F1+0RECV_B0", "1RECV_F1+1RECV_F0");
    }

    @Test
    void receivingBeforeSendingOnBothSidesDeadlocks() {
        InvalidScheduleException e = invalid(Schedule.parse("hand", 2, 1, 1,
                "0RECV_B0 0F0 0SEND_F0 0B0",
                "1RECV_F0 1F0 1B0 1SEND_B0"));
        assertMarked(e, "deadlock", "0RECV_B0", "1RECV_F0");
    }

    @Test
    void crissCrossIsFineWhenGrouped() {
        // The pattern that deadlocks with one blocking call per operation: each rank sends, then receives.
        ScheduleSimulator.validate(Schedule.parse("hand", 2, 2, 1,
                "0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0B0 0RECV_B1 0B1",
                "1RECV_F0 1F0 1B0 1SEND_B0 1RECV_F1 1F1 1B1 1SEND_B1"));
    }

    @Test
    void activationFreedTwice() {
        InvalidScheduleException e = invalid(Schedule.parse("hand", 1, 1, 1, "0F0 0B0 0B0"));
        assertMarked(e, "activation of stage 0 micro-batch 0 freed twice: 0B0 here, and already by 0B0 at step 1",
                "0B0");
        assertTrue(e.table().contains("step 2: [0B0]  <-- ERROR HERE"), e.table());
    }

    @Test
    void activationStoredTwice() {
        assertMarked(invalid(Schedule.parse("hand", 1, 1, 1, "0F0 0F0 0B0")), "0F0 runs twice", "0F0");
    }

    @Test
    void activationNeverFreed() {
        assertMarked(invalid(Schedule.parse("hand", 1, 2, 1, "0F0 0F1 0B0")),
                "the activation stored here by 0F1 is never freed: rank 0 has no 0B1", "0F1");
    }

    @Test
    void microBatchNeverRun() {
        InvalidScheduleException e = invalid(Schedule.parse("hand", 1, 2, 1, "0F0 0B0"));
        assertTrue(e.reason().contains("0F1 never runs"), e.getMessage());
    }

    @Test
    void actionOnTheWrongRank() {
        assertMarked(invalid(Schedule.parse("hand", 2, 1, 1, "0F0 1F0", "")),
                "1F0 is on rank 0, but stage 1 lives on rank 1", "1F0");
    }

    @Test
    void indicesOutOfRange() {
        assertMarked(invalid(Schedule.parse("hand", 1, 1, 1, "0F0 0B0 1F0")), "stage 1 out of range", "1F0");
        assertMarked(invalid(Schedule.parse("hand", 1, 1, 1, "0F0 0B0 0F1")), "micro-batch 1 out of range", "0F1");
    }

    @Test
    void communicationThatIsNotNeeded() {
        assertMarked(invalid(Schedule.parse("hand", 1, 1, 2, "0F0 0SEND_F0 1RECV_F0 1F0 1B0 0B0")),
                "stages 0 and 1 both live on rank 0", "0SEND_F0+1RECV_F0");
        assertMarked(invalid(Schedule.parse("hand", 2, 1, 1, "0RECV_F0 0F0 0B0", "1F0 1B0")),
                "stage 0 has no stage -1 to exchange with", "0RECV_F0");
    }

    @Test
    void duplicateSend() {
        assertMarked(invalid(Schedule.parse("hand", 2, 1, 1,
                        "0F0 0SEND_F0 0RECV_B0 0B0 0SEND_F0",
                        "1RECV_F0 1F0 1B0 1SEND_B0")),
                "0SEND_F0 appears twice: also at step 1", "0SEND_F0");
    }

    @Test
    void sendOfSomethingNotComputedYet() {
        assertMarked(invalid(Schedule.parse("hand", 2, 1, 1,
                        "0SEND_F0 0F0 0RECV_B0 0B0",
                        "1RECV_F0 1F0 1B0 1SEND_B0")),
                "0SEND_F0 sends the output of 0F0, which has not run yet", "0SEND_F0");
    }

    @Test
    void bufferedSimulationReportsAStuckComputeOrder() {
        InvalidScheduleException e = assertThrows(InvalidScheduleException.class,
                () -> ScheduleSimulator.simulateBuffered(Schedule.parse("hand", 2, 2, 1,
                        "0F0 0B0 0F1 0B1", "1F1 1B1 1F0 1B0"), CostModel.uniform(1, 1)));
        assertMarked(e, "stuck", "0B0", "1F1");
        assertThrows(IllegalArgumentException.class, () -> ScheduleSimulator.simulateBuffered(
                SendRecvLowering.lower(Schedules.gpipe(2, 2)), CostModel.uniform(1, 1)));
    }

    @Test
    void everyMalformationOfALoweredScheduleIsCaught() {
        // Drop each action of a lowered 1F1B in turn: every result must be rejected, never silently accepted.
        Schedule good = SendRecvLowering.lower(Schedules.oneFOneB(3, 3));
        for (int r = 0; r < good.ranks(); r++) {
            for (int i = 0; i < good.actions(r).size(); i++) {
                List<List<Action>> actions = new ArrayList<>(good.actions());
                List<Action> rank = new ArrayList<>(actions.get(r));
                Action dropped = rank.remove(i);
                actions.set(r, rank);
                Schedule bad = new Schedule("drop " + dropped, 3, 3, 1, actions);
                assertThrows(InvalidScheduleException.class, () -> ScheduleSimulator.validate(bad), bad::toString);
            }
        }
    }

    @Test
    void measuredDurationsDriveTheTimeline() {
        Schedule s = SendRecvLowering.lower(Schedules.gpipe(2, 1));
        Timeline t = ScheduleSimulator.simulate(s, CostModel.measured(Map.of(
                Action.forward(0, 0), 1.5, Action.forward(1, 0), 2.0,
                Action.backward(1, 0), 4.0, Action.backward(0, 0), 3.0)));
        assertEquals(10.5, t.makespan());
        assertEquals(4.5, t.busyTime(0));
        assertEquals(6.0 / 10.5, t.bubbleFraction(0), 1e-12);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ScheduleSimulator.simulate(
                s, CostModel.measured(Map.of(Action.forward(0, 0), 1.0))));
        assertTrue(e.getMessage().contains("no measured duration for 1F0"), e.getMessage());
    }
}
