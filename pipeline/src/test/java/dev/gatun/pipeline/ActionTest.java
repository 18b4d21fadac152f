package dev.gatun.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

class ActionTest {
    @Test
    void printsShortForm() {
        assertEquals("2F0", Action.forward(2, 0).toString());
        assertEquals("1B3", Action.backward(1, 3).toString());
        assertEquals("0SEND_F1", new Action(0, ActionType.SEND_F, 1).toString());
        assertEquals("1RECV_F1", new Action(1, ActionType.RECV_F, 1).toString());
        assertEquals("12SEND_B10", new Action(12, ActionType.SEND_B, 10).toString());
    }

    @ParameterizedTest
    @EnumSource(ActionType.class)
    void parseRoundTripsEveryType(ActionType type) {
        Action a = new Action(13, type, 7);
        assertEquals(a, Action.parse(a.toString()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "F0", "2F", "2X0", "-1F0", "2 F 0", "2f0", "2SEND0"})
    void rejectsMalformedText(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Action.parse(text));
        assertTrue(e.getMessage().contains("'"), e.getMessage());
    }

    @Test
    void counterpartPairsSendsWithReceivesOnTheNeighbourStage() {
        assertEquals(Action.parse("1RECV_F3"), Action.parse("0SEND_F3").counterpart());
        assertEquals(Action.parse("0SEND_F3"), Action.parse("1RECV_F3").counterpart());
        assertEquals(Action.parse("0RECV_B2"), Action.parse("1SEND_B2").counterpart());
        assertEquals(Action.parse("1SEND_B2"), Action.parse("0RECV_B2").counterpart());
        assertThrows(IllegalStateException.class, () -> Action.forward(0, 0).counterpart());
    }

    @Test
    void rejectsNegativeIndices() {
        assertThrows(IllegalArgumentException.class, () -> Action.forward(-1, 0));
        assertThrows(IllegalArgumentException.class, () -> Action.backward(0, -2));
    }
}
