package dev.gatun.gpt.train;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.ScheduleKind;

@Timeout(120)
class TrainingTest {
    static final GptConfig CONFIG = new GptConfig(4, 4, 32, 16, 256, true);
    static final TokenDataset DATA = TokenDataset.fromText(ArithmeticCorpus.generate(7, 400), new ByteTokenizer());

    static double[] losses(ParallelLayout layout, PrecisionPolicy policy, GptConfig config, int steps) {
        var options = new TrainOptions(policy, new LearningRateSchedule(3e-3, 3e-4, 2, steps), 1.0f, 0f, 42, 8);
        var run = new GptTraining(config, layout, options, CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(60)))
                .run(DATA, steps, m -> { });
        return run.steps().stream().mapToDouble(StepMetrics::loss).toArray();
    }

    @Test
    void lossFallsOnOneRank() {
        double[] l = losses(ParallelLayout.single(), PrecisionPolicy.FP32, CONFIG, 12);
        System.out.println(java.util.Arrays.toString(l));
        assertTrue(l[11] < l[0] - 0.5, java.util.Arrays.toString(l));
    }

    @Test
    void layoutsMatchOneRank() {
        double[] ref = losses(ParallelLayout.single(), PrecisionPolicy.FP32, CONFIG, 4);
        for (var layout : List.of(
                new ParallelLayout(2, 1, 1, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 1, 1),
                new ParallelLayout(1, 2, 1, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 1, 1),
                new ParallelLayout(1, 1, 2, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 2, 1),
                new ParallelLayout(2, 2, 2, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 2, 1))) {
            double[] l = losses(layout, PrecisionPolicy.FP32, CONFIG, 4);
            System.out.println(layout + " " + java.util.Arrays.toString(l) + " vs " + java.util.Arrays.toString(ref));
            for (int i = 0; i < ref.length; i++) {
                assertEquals(ref[i], l[i], 1e-4, layout + " step " + i);
            }
        }
    }
}
