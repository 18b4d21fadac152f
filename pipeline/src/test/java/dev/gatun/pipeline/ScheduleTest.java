package dev.gatun.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ScheduleTest {
    @Test
    void placesStageOnRankModP() {
        Schedule s = Schedules.interleaved1F1B(4, 8, 3);
        assertEquals(12, s.stages());
        assertEquals(1, s.rankOf(5));
        assertEquals(1, s.chunkOf(5));
        assertEquals(3, s.rankOf(11));
        assertEquals(2, s.chunkOf(11));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.rankOf(12));
        assertTrue(e.getMessage().contains("12 stages"), e.getMessage());
    }

    @Test
    void foldsConsecutiveCommunicationIntoOneGroup() {
        Schedule s = Schedule.parse("hand", 2, 2, 1,
                "0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0B0 0RECV_B1 0B1",
                "1RECV_F0 1F0 1B0 1SEND_B0 1RECV_F1 1F1 1B1 1SEND_B1");
        assertEquals(List.of(
                new Step.Compute(Action.parse("1F0")),
                new Step.Compute(Action.parse("1B0")),
                new Step.Group(List.of(Action.parse("1SEND_B0"), Action.parse("1RECV_F1"))),
                new Step.Compute(Action.parse("1F1")),
                new Step.Compute(Action.parse("1B1")),
                new Step.Group(List.of(Action.parse("1SEND_B1")))),
                s.steps(1).subList(1, 7));
        assertEquals(new Step.Group(List.of(Action.parse("1RECV_F0"))), s.steps(1).get(0));
        assertTrue(s.hasCommunication());
        assertFalse(Schedules.gpipe(2, 2).hasCommunication());
    }

    @Test
    void printsOneColumnPerRankAndParsesBackFromItsPrograms() {
        Schedule lowered = SendRecvLowering.lower(Schedules.oneFOneB(3, 4));
        String table = lowered.toString();
        String[] lines = table.split("\n");
        assertTrue(lines[0].startsWith("1F1B p=3 m=4 v=1"), lines[0]);
        assertTrue(lines[1].contains("rank 0") && lines[1].contains("rank 2"), lines[1]);
        assertTrue(lines[2].startsWith(" step 0: 0F0"), lines[2]);
        assertTrue(table.contains("0SEND_F2+0RECV_B0"), table);
        String[] programs = new String[3];
        for (int r = 0; r < 3; r++) {
            programs[r] = String.join(" ", lowered.actions(r).stream().map(Action::toString).toList());
        }
        assertEquals(lowered, Schedule.parse(lowered.name(), 3, 4, 1, programs));
    }

    @Test
    void rejectsInvalidShape() {
        assertThrows(IllegalArgumentException.class, () -> new Schedule("x", 0, 1, 1, List.of()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedule.parse("x", 2, 1, 1, "0F0 0B0"));
        assertTrue(e.getMessage().contains("one action list per rank (2)"), e.getMessage());
    }
}
