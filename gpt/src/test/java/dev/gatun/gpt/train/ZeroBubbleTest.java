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
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * ZB-H1 reorders the backward, never its sums: each layer's input-gradient and weight-gradient halves add what its
 * whole backward adds, and every parameter's gradient still accumulates the micro-batches in order, so three steps
 * under {@code zb-h1} give every step's loss and gradient norm and every final parameter of the same layout under
 * 1F1B, bit for bit (CPU backend, deterministic kernels): pipelines of 1 to 4 stages, tp, dp with ZeRO 1-3, mixed
 * precision, a tied head on the embedding's stage and on another, untied heads, and recomputation.
 */
@Timeout(300)
class ZeroBubbleTest {
    private static final GptConfig TIED = new GptConfig(4, 4, 32, 24, 256, true);
    private static final GptConfig UNTIED = new GptConfig(4, 4, 32, 24, 256, false);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(29, 500), new ByteTokenizer());
    private static final int STEPS = 3;

    private static ParallelLayout layout(int dp, int tp, int pp, ZeroStage zero, int m) {
        return new ParallelLayout(dp, tp, pp, zero, ScheduleKind.ZB_H1, m, 1);
    }

    static Stream<Arguments> layouts() {
        var none = RecomputePlan.NONE;
        var fp32 = PrecisionPolicy.FP32;
        return Stream.of(
                Arguments.of(TIED, layout(1, 1, 1, ZeroStage.NONE, 4), fp32, none),
                Arguments.of(TIED, layout(1, 1, 2, ZeroStage.NONE, 4), fp32, none),
                Arguments.of(UNTIED, layout(1, 1, 4, ZeroStage.NONE, 8), fp32, none),
                Arguments.of(TIED, layout(1, 2, 2, ZeroStage.NONE, 2), fp32, none),
                Arguments.of(TIED, layout(2, 2, 2, ZeroStage.ONE, 2), fp32, none),
                Arguments.of(TIED, layout(2, 1, 2, ZeroStage.THREE, 4), fp32, none),
                Arguments.of(UNTIED, layout(2, 2, 2, ZeroStage.TWO, 2), PrecisionPolicy.BF16_MIXED, none),
                Arguments.of(TIED, layout(2, 1, 2, ZeroStage.THREE, 2), PrecisionPolicy.FP16_MIXED, none),
                Arguments.of(TIED, layout(1, 2, 2, ZeroStage.NONE, 4), fp32,
                        RecomputePlan.all(Recompute.SELECTIVE).with("h3", Recompute.FULL)));
    }

    @ParameterizedTest(name = "{1} {2} recompute {3}")
    @MethodSource("layouts")
    void zbH1TrainsBitForBitAs1F1B(GptConfig config, ParallelLayout layout, PrecisionPolicy policy,
                                   RecomputePlan plan) {
        var oneF = new ParallelLayout(layout.dp(), layout.tp(), layout.pp(), layout.zero(), ScheduleKind.ONE_F_ONE_B,
                layout.microBatches(), 1);
        Training.Result reference = train(config, oneF, policy, plan);
        Training.Result run = train(config, layout, policy, plan);
        String what = layout + " " + policy.name() + " recompute " + plan;
        SameRun.assertBitForBit(reference, run, what);
    }

    private static Training.Result train(GptConfig config, ParallelLayout layout, PrecisionPolicy policy,
                                         RecomputePlan plan) {
        var options = new TrainOptions(policy, new LearningRateSchedule(3e-3, 3e-4, 1, STEPS), 1f, 0.01f, 31, 16)
                .withRecompute(plan);
        Training.Result result = new GptTraining(config, layout, options,
                CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(60))).run(DATA, STEPS, m -> { }, true);
        assertEquals(STEPS, result.steps().size());
        return result;
    }
}
