package dev.gatun.pipeline;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ZB-H1 against the paper (Qi et al., ICLR 2024) and against 1F1B: it validates once lowered, holds no more
 * micro-batches than 1F1B on any rank, and with {@code t_F = t_I = t_W} its bubble is a third of 1F1B's, in the
 * buffered model and after lowering to rendezvous sends and receives; the validator knows the split backward.
 */
class ZeroBubbleScheduleTest {
    static Stream<Arguments> sizes() {
        List<Arguments> out = new ArrayList<>();
        for (int p = 1; p <= 6; p++) {
            for (int m : new int[] {1, 2, p, 2 * p, 3 * p + 1}) {
                out.add(Arguments.of(p, m));
            }
        }
        return out.stream().distinct();
    }

    @ParameterizedTest(name = "p={0} m={1}")
    @MethodSource("sizes")
    void itRunsAndHoldsNoMoreThan1F1B(int p, int m) {
        Timeline zb = ScheduleSimulator.validate(SendRecvLowering.lower(Schedules.zbH1(p, m)));
        Timeline oneF = ScheduleSimulator.validate(SendRecvLowering.lower(Schedules.oneFOneB(p, m)));
        int oneFPeak = 0;
        for (int r = 0; r < p; r++) {
            oneFPeak = Math.max(oneFPeak, oneF.peakInFlightOnRank(r));
        }
        assertEquals(Math.min(p, m), oneFPeak, "1F1B's peak is its first rank's, min(p, m)");
        for (int r = 0; r < p; r++) {
            assertEquals(Math.min(p, m), zb.peakInFlightOnRank(r), "rank " + r + " of ZB-H1 holds min(p, m)");
            assertEquals(3 * m, zb.slots().get(r).size(), "rank " + r + ": an F, an I and a W per micro-batch");
        }
    }

    /**
     * With {@code t_F = t_I = t_W = 1} (a whole backward 2): 1F1B's makespan is {@code 3m + 3(p−1)}, ZB-H1's
     * {@code 3m + (p−1)}: the bubble {@code (p−1)(t_F + t_I − t_W)} against {@code (p−1)(t_F + t_B)}, a third.
     */
    @ParameterizedTest(name = "p={0} m={1}")
    @MethodSource("sizes")
    void itsBubbleIsAThirdOf1F1BsWhenThePassesTakeEqualTime(int p, int m) {
        if (m < p) {
            return; // the paper's figures are for m >= p; fewer micro-batches leave both schedules mostly idle
        }
        CostModel equal = CostModel.uniform(1, 1, 1);
        Timeline zb = ScheduleSimulator.simulateBuffered(Schedules.zbH1(p, m), equal);
        Timeline oneF = ScheduleSimulator.simulateBuffered(Schedules.oneFOneB(p, m), equal);
        assertEquals(3.0 * m + 3 * (p - 1), oneF.makespan(), 1e-12, "1F1B");
        assertEquals(3.0 * m + (p - 1), zb.makespan(), 1e-12, "ZB-H1");
        for (int r = 0; r < p; r++) {
            assertEquals((p - 1.0) / (3 * m + p - 1), zb.bubbleFraction(r), 1e-12, "rank " + r);
        }
        Timeline lowered = ScheduleSimulator.simulate(SendRecvLowering.lower(Schedules.zbH1(p, m), equal), equal);
        assertEquals(zb.makespan(), lowered.makespan(), 1e-12, "the rendezvous sends cost ZB-H1 no time");
    }

    @Test
    void theValidatorKnowsTheSplitBackward() {
        assertRejected("W before its I", "0F0 0W0 0I0", "runs before 0I0");
        assertRejected("both B and I", "0F0 0I0 0B0", "a micro-batch's backward is one B or one I and one W");
        assertRejected("an I without its W", "0F0 0I0", "is never freed: rank 0 has no 0W0 after its 0I0");
        assertRejected("a W after a whole B", "0F0 0B0 0W0", "(this micro-batch ran a whole B)");
        assertRejected("two Is", "0F0 0I0 0I0 0W0", "computes the input gradient of stage 0 micro-batch 0 again");
    }

    @Test
    void anIWaitsForTheNextStagesInputGradient() {
        Schedule early = new Schedule("early I", 2, 1, 1, List.of(
                List.of(Action.forward(0, 0), Action.backwardInput(0, 0), Action.backwardWeight(0, 0)),
                List.of(Action.forward(1, 0), Action.backwardInput(1, 0), Action.backwardWeight(1, 0))));
        var e = assertThrows(InvalidScheduleException.class, () -> ScheduleSimulator.validate(early));
        assertTrue(e.getMessage().contains("0I0 runs before its output gradient from 1I0"), e.getMessage());
        assertEquals(List.of("0F0", "0SEND_F0", "0RECV_B0", "0I0", "0W0"), SendRecvLowering.lower(early).actions()
                .get(0).stream().map(Action::toString).toList());
    }

    @Test
    void itsGanttChartDrawsTheWeightGradients() {
        String svg = GanttChart.svg(ScheduleSimulator.simulateBuffered(Schedules.zbH1(3, 4),
                CostModel.uniform(1, 1, 1)));
        assertTrue(svg.contains("class=\"action weight\" data-action=\"0W0\""), svg);
        assertTrue(svg.contains("class=\"action backward input\" data-action=\"2I3\""), svg);
        assertTrue(svg.contains("weight gradient (W"), svg);
    }

    private static void assertRejected(String what, String actions, String reason) {
        List<Action> rank = Stream.of(actions.split(" ")).map(Action::parse).toList();
        var e = assertThrows(InvalidScheduleException.class,
                () -> ScheduleSimulator.validate(new Schedule(what, 1, 1, 1, List.of(rank))), what);
        assertTrue(e.getMessage().contains(reason), what + ": " + e.getMessage());
    }
}
