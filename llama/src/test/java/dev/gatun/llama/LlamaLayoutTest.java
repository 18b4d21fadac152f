package dev.gatun.llama;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.train.DataSource;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Llama model trains the same loss curve in every layout as on one rank (within fp32 summation order, and bf16's
 * rounding against one rank in bf16): data, tensor and pipeline parallelism, 3D with ZeRO 3, grouped-query attention
 * with tp equal to the key/value heads (each rank one key/value head and its group), a tied head across stages and an
 * untied one, the interleaved and zero-bubble schedules, sequence parallelism; and the one-rank curve learns.
 */
@Timeout(300)
class LlamaLayoutTest {
    private static final int STEPS = 5;
    private static final LlamaConfig TIED = new LlamaConfig(4, 4, 2, 32, 96, 16, 256, true, 10_000, null, 1e-5f);
    private static final LlamaConfig UNTIED = new LlamaConfig(4, 4, 2, 32, 96, 16, 256, false, 500_000,
            new dev.gatun.ops.RotaryFrequencies.Llama3Scaling(8, 1, 4, 8), 1e-5f);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(13, 500), new ByteTokenizer());
    private static final Map<String, double[]> REFERENCES = new HashMap<>();

    private static ParallelLayout layout(int dp, int tp, int pp, ZeroStage zero, ScheduleKind schedule, int m, int v) {
        return new ParallelLayout(dp, tp, pp, zero, schedule, m, v);
    }

    static Stream<Arguments> layouts() {
        var oneF = ScheduleKind.ONE_F_ONE_B;
        var fp32 = PrecisionPolicy.FP32;
        return Stream.of(
                Arguments.of(TIED, layout(2, 1, 1, ZeroStage.NONE, oneF, 1, 1), fp32),
                Arguments.of(TIED, layout(1, 2, 1, ZeroStage.NONE, oneF, 1, 1), fp32), // tp = the kv heads
                Arguments.of(TIED, layout(1, 1, 2, ZeroStage.NONE, oneF, 4, 1), fp32),
                Arguments.of(TIED, layout(2, 2, 2, ZeroStage.THREE, oneF, 2, 1), fp32),
                Arguments.of(TIED, layout(2, 1, 2, ZeroStage.TWO, ScheduleKind.ZB_H1, 2, 1), fp32),
                Arguments.of(TIED, layout(1, 2, 2, ZeroStage.ONE, ScheduleKind.INTERLEAVED, 2, 2), fp32),
                Arguments.of(UNTIED, layout(1, 2, 2, ZeroStage.NONE, oneF, 2, 1), fp32),
                Arguments.of(UNTIED, layout(2, 1, 1, ZeroStage.THREE, oneF, 1, 1), fp32),
                Arguments.of(TIED, layout(1, 2, 1, ZeroStage.NONE, oneF, 1, 1).withSequenceParallel(true), fp32),
                Arguments.of(UNTIED, layout(2, 2, 2, ZeroStage.THREE, oneF, 2, 1).withSequenceParallel(true), fp32),
                Arguments.of(TIED, layout(1, 2, 2, ZeroStage.ONE, ScheduleKind.ZB_H1, 2, 1).withSequenceParallel(true),
                        fp32),
                Arguments.of(TIED, layout(1, 2, 2, ZeroStage.NONE, oneF, 2, 1), PrecisionPolicy.BF16_MIXED),
                Arguments.of(TIED, layout(2, 2, 2, ZeroStage.THREE, oneF, 2, 1), PrecisionPolicy.BF16_MIXED));
    }

    @ParameterizedTest(name = "{1} {2} tied {0}")
    @MethodSource("layouts")
    void everyLayoutTrainsTheCurveOfOneRank(LlamaConfig config, ParallelLayout layout, PrecisionPolicy policy) {
        double[] ref;
        synchronized (REFERENCES) {
            ref = REFERENCES.computeIfAbsent(policy.name() + config.tiedHead(),
                    k -> losses(config, ParallelLayout.single(), policy));
        }
        double[] got = losses(config, layout, policy);
        assertTrue(ref[STEPS - 1] < ref[0] - 0.1, "the reference must learn: " + Arrays.toString(ref));
        double tol = policy == PrecisionPolicy.FP32 ? 2e-5 : 1e-4;
        for (int i = 0; i < STEPS; i++) {
            double rel = Math.abs(got[i] - ref[i]) / Math.abs(ref[i]);
            assertTrue(rel <= tol, layout + " " + policy.name() + ": step " + i + " loss " + got[i] + " vs one rank "
                    + ref[i] + " (relative " + rel + ")\n  layout:   " + Arrays.toString(got) + "\n  one rank: "
                    + Arrays.toString(ref));
        }
    }

    @Test
    void tensorParallelismMustKeepWholeKeyValueHeads() {
        var e = assertThrows(IllegalArgumentException.class, () -> layout(1, 4, 1, ZeroStage.NONE,
                ScheduleKind.ONE_F_ONE_B, 1, 1).validate(new LlamaModel(TIED), 8));
        assertEquals("--tp 4 must divide the model's 2 key/value heads (each rank holds whole key/value heads with "
                + "their groups of query heads)", e.getMessage());
    }

    static double[] losses(LlamaConfig config, ParallelLayout layout, PrecisionPolicy policy) {
        var options = new TrainOptions(policy, new LearningRateSchedule(3e-3, 3e-4, 2, STEPS), 1.0f, 0.01f, 42, 8);
        DataSource data = GptModel.tokens(DATA, 42, 8, config.seqLen());
        Training.Result run = new Training(new LlamaModel(config), layout, options,
                CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(60))).run(data, STEPS, m -> { });
        return run.steps().stream().mapToDouble(StepMetrics::loss).toArray();
    }
}
