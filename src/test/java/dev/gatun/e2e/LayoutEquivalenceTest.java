package dev.gatun.e2e;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.gatun.gpt.train.GptTraining;

/**
 * The proof that the modules compose (DESIGN property 12): with the same seed and global batch, five training steps
 * of a small GPT in each 3D layout give the loss curve of one rank, within fp32 summation-order tolerance (and the
 * same layout in bf16/fp16 against one rank in bf16/fp16, within their rounding). Different layouts sum in different
 * orders, so bit equality is not expected; a broken layout (a missing all-reduce, a gradient reduced twice, an
 * untied embedding copy) is off by far more than the tolerance from the first or second step on.
 */
@Timeout(300)
class LayoutEquivalenceTest {
    private static final int STEPS = 5;
    private static final GptConfig TIED = new GptConfig(4, 4, 32, 16, 256, true);
    private static final GptConfig UNTIED = new GptConfig(4, 4, 32, 16, 256, false);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(11, 500), new ByteTokenizer());
    private static final Map<String, double[]> REFERENCES = new HashMap<>();

    private static ParallelLayout layout(int dp, int tp, int pp, ZeroStage zero, ScheduleKind schedule, int m, int v) {
        return new ParallelLayout(dp, tp, pp, zero, schedule, m, v);
    }

    static Stream<ParallelLayout> fp32Layouts() {
        var oneF = ScheduleKind.ONE_F_ONE_B;
        return Stream.of(
                layout(2, 1, 1, ZeroStage.NONE, oneF, 1, 1),
                layout(1, 2, 1, ZeroStage.NONE, oneF, 1, 1),
                layout(1, 1, 2, ZeroStage.NONE, oneF, 4, 1),
                layout(1, 1, 2, ZeroStage.NONE, ScheduleKind.GPIPE, 2, 1),
                layout(2, 2, 1, ZeroStage.NONE, oneF, 2, 1),
                layout(1, 2, 2, ZeroStage.NONE, ScheduleKind.INTERLEAVED, 2, 2),
                layout(2, 2, 2, ZeroStage.ONE, oneF, 2, 1),
                layout(2, 2, 2, ZeroStage.TWO, oneF, 2, 1),
                layout(2, 2, 2, ZeroStage.THREE, oneF, 2, 1),
                layout(2, 1, 2, ZeroStage.THREE, ScheduleKind.INTERLEAVED, 2, 2),
                layout(1, 1, 2, ZeroStage.NONE, ScheduleKind.ZB_H1, 4, 1),
                layout(2, 2, 2, ZeroStage.THREE, ScheduleKind.ZB_H1, 2, 1),
                layout(4, 1, 1, ZeroStage.TWO, oneF, 1, 1),
                // sequence parallelism: the LayerNorms and the residual stream split over tp along the tokens
                layout(1, 2, 1, ZeroStage.NONE, oneF, 1, 1).withSequenceParallel(true),
                layout(1, 4, 1, ZeroStage.NONE, oneF, 2, 1).withSequenceParallel(true),
                layout(1, 2, 2, ZeroStage.NONE, oneF, 4, 1).withSequenceParallel(true),
                layout(2, 2, 2, ZeroStage.THREE, oneF, 2, 1).withSequenceParallel(true),
                layout(1, 2, 2, ZeroStage.ONE, ScheduleKind.INTERLEAVED, 2, 2).withSequenceParallel(true),
                layout(2, 2, 2, ZeroStage.TWO, ScheduleKind.ZB_H1, 2, 1).withSequenceParallel(true));
    }

    static Stream<ParallelLayout> mixedLayouts() {
        var oneF = ScheduleKind.ONE_F_ONE_B;
        return Stream.of(
                layout(2, 1, 1, ZeroStage.TWO, oneF, 1, 1),
                layout(1, 2, 2, ZeroStage.NONE, oneF, 2, 1),
                layout(1, 2, 2, ZeroStage.ONE, ScheduleKind.ZB_H1, 2, 1),
                layout(2, 2, 2, ZeroStage.THREE, oneF, 2, 1),
                layout(1, 4, 2, ZeroStage.THREE, oneF, 2, 1).withSequenceParallel(true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fp32Layouts")
    void fp32LayoutMatchesOneRank(ParallelLayout layout) {
        assertSameCurve(layout, PrecisionPolicy.FP32, TIED, 2e-5); // seen: 1e-7
    }

    @ParameterizedTest(name = "untied head, {0}")
    @MethodSource("mixedLayouts")
    void untiedHeadLayoutMatchesOneRank(ParallelLayout layout) {
        assertSameCurve(layout, PrecisionPolicy.FP32, UNTIED, 2e-5);
    }

    @ParameterizedTest(name = "bf16, {0}")
    @MethodSource("mixedLayouts")
    void bf16LayoutMatchesOneRankInBf16(ParallelLayout layout) {
        assertSameCurve(layout, PrecisionPolicy.BF16_MIXED, TIED, 1e-4); // seen: 2e-5 (dp sums bf16 gradients)
    }

    @ParameterizedTest(name = "fp16, {0}")
    @MethodSource("mixedLayouts")
    void fp16LayoutMatchesOneRankInFp16(ParallelLayout layout) {
        assertSameCurve(layout, PrecisionPolicy.FP16_MIXED, TIED, 2e-5); // seen: 1e-6
    }

    private static void assertSameCurve(ParallelLayout layout, PrecisionPolicy policy, GptConfig config,
                                        double relTol) {
        double[] ref;
        synchronized (REFERENCES) {
            ref = REFERENCES.computeIfAbsent(policy.name() + config.tiedHead(),
                    k -> losses(ParallelLayout.single(), policy, config));
        }
        double[] got = losses(layout, policy, config);
        assertTrue(ref[STEPS - 1] < ref[0] - 0.1, "the reference must learn: " + Arrays.toString(ref));
        for (int i = 0; i < STEPS; i++) {
            double rel = Math.abs(got[i] - ref[i]) / Math.abs(ref[i]);
            assertTrue(rel <= relTol, layout + " " + policy.name() + ": step " + i + " loss " + got[i]
                    + " vs one rank " + ref[i] + " (relative " + rel + " > " + relTol + ")\n  layout:   "
                    + Arrays.toString(got) + "\n  one rank: " + Arrays.toString(ref));
        }
    }

    private static double[] losses(ParallelLayout layout, PrecisionPolicy policy, GptConfig config) {
        var options = new TrainOptions(policy, new LearningRateSchedule(3e-3, 3e-4, 2, STEPS), 1.0f, 0.01f, 42, 8);
        var run = new GptTraining(config, layout, options,
                CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(60))).run(DATA, STEPS, m -> { });
        return run.steps().stream().mapToDouble(StepMetrics::loss).toArray();
    }
}
