package com.example.gatun;

import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Both examples train for a few steps in a parallel layout and equal the one-rank run; their losses fall. */
@Timeout(180)
class ExamplesTest {
    private static void sameAsOneRank(double[] layout, double[] one, String what) {
        assertEquals(one.length, layout.length);
        for (int i = 0; i < one.length; i++) {
            assertEquals(one[i], layout[i], 1e-4 * Math.max(1, Math.abs(one[i])), what + " step " + i);
        }
    }

    @Test
    void theDeepMlpInDp2Tp2Pp2WithZero3EqualsOneRank() {
        double[] one = DeepMlp.train(ParallelLayout.single(), 6);
        double[] three = DeepMlp.train(new ParallelLayout(2, 2, 2, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 2, 1),
                6);
        sameAsOneRank(three, one, "dp2 tp2 pp2 zero3");
        assertTrue(one[5] < one[0], "the loss falls: " + one[0] + " -> " + one[5]);
    }

    @Test
    void theGptOnItsOwnDataInDp2Tp2Zero2EqualsOneRank() {
        double[] one = GptCustomData.train(ParallelLayout.single(), 6);
        double[] parallel = GptCustomData.train(new ParallelLayout(2, 2, 1, ZeroStage.TWO, ScheduleKind.ONE_F_ONE_B,
                1, 1), 6);
        sameAsOneRank(parallel, one, "dp2 tp2 zero2");
        assertTrue(one[5] < one[0], "the loss falls: " + one[0] + " -> " + one[5]);
    }
}
