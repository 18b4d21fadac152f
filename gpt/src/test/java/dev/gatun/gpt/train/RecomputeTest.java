package dev.gatun.gpt.train;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.Recompute;
import dev.gatun.train.RecomputePlan;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Activation recomputation changes memory and time, never the numbers: on the CPU backend (deterministic kernels)
 * three steps with selective, full, or a per-layer mix of recomputation give every step's loss and gradient norm and
 * every final parameter of the run without it, bit for bit, in each layout (pipeline schedules, tp, ZeRO 1-3, mixed
 * precision).
 */
@Timeout(300)
class RecomputeTest {
    private static final GptConfig CONFIG = new GptConfig(4, 4, 32, 24, 256, true);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(17, 500), new ByteTokenizer());
    private static final int STEPS = 3;

    private static ParallelLayout layout(int dp, int tp, int pp, ZeroStage zero, ScheduleKind schedule, int m, int v) {
        return new ParallelLayout(dp, tp, pp, zero, schedule, m, v);
    }

    static Stream<Arguments> layouts() {
        var oneF = ScheduleKind.ONE_F_ONE_B;
        return Stream.of(
                Arguments.of(ParallelLayout.single(), PrecisionPolicy.FP32),
                Arguments.of(layout(1, 2, 1, ZeroStage.NONE, oneF, 1, 1), PrecisionPolicy.FP32),
                Arguments.of(layout(1, 1, 2, ZeroStage.NONE, oneF, 4, 1), PrecisionPolicy.FP32),
                Arguments.of(layout(1, 1, 2, ZeroStage.NONE, ScheduleKind.GPIPE, 2, 1), PrecisionPolicy.FP32),
                Arguments.of(layout(1, 2, 2, ZeroStage.NONE, ScheduleKind.INTERLEAVED, 2, 2), PrecisionPolicy.FP32),
                Arguments.of(layout(2, 2, 2, ZeroStage.ONE, oneF, 2, 1), PrecisionPolicy.FP32),
                Arguments.of(layout(2, 1, 2, ZeroStage.THREE, oneF, 2, 1), PrecisionPolicy.FP32),
                Arguments.of(layout(2, 2, 1, ZeroStage.TWO, oneF, 2, 1), PrecisionPolicy.BF16_MIXED));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("layouts")
    void everyModeTrainsBitForBitAsWithoutRecomputation(ParallelLayout layout, PrecisionPolicy policy) {
        Training.Result reference = train(layout, policy, RecomputePlan.NONE);
        for (RecomputePlan plan : List.of(RecomputePlan.all(Recompute.SELECTIVE), RecomputePlan.all(Recompute.FULL),
                RecomputePlan.all(Recompute.SELECTIVE).with("h0", Recompute.FULL).with("h3", Recompute.NONE))) {
            Training.Result run = train(layout, policy, plan);
            String what = layout + " " + policy.name() + " recompute " + plan;
            SameRun.assertBitForBit(reference, run, what);
        }
    }

    private static Training.Result train(ParallelLayout layout, PrecisionPolicy policy, RecomputePlan plan) {
        var options = new TrainOptions(policy, new LearningRateSchedule(3e-3, 3e-4, 1, STEPS), 1f, 0.01f, 23, 8)
                .withRecompute(plan);
        Training.Result result = new GptTraining(CONFIG, layout, options,
                CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(60))).run(DATA, STEPS, m -> { }, true);
        assertEquals(STEPS, result.steps().size());
        return result;
    }
}
