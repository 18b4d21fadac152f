package dev.gatun.llama;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.train.DataSource;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.Recompute;
import dev.gatun.train.RecomputePlan;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.train.checkpoint.ModelWeights;
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
 * Every Llama layer splits its backward into the input and the weight halves, so ZB-H1 trains 1F1B's run bit for
 * bit (losses, gradient norms, final weights) with the bubble filled: pipelines of 2 and 4 stages, tp, ZeRO 3,
 * sequence parallelism, recomputation, tied and untied heads.
 */
@Timeout(300)
class LlamaZeroBubbleTest {
    private static final LlamaConfig TIED = new LlamaConfig(4, 4, 2, 32, 96, 16, 256, true, 10_000, null, 1e-5f);
    private static final LlamaConfig UNTIED = new LlamaConfig(4, 4, 2, 32, 96, 16, 256, false, 10_000, null, 1e-5f);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(43, 500), new ByteTokenizer());
    private static final int STEPS = 3;

    private static ParallelLayout zb(int dp, int tp, int pp, ZeroStage zero, int m) {
        return new ParallelLayout(dp, tp, pp, zero, ScheduleKind.ZB_H1, m, 1);
    }

    static Stream<Arguments> layouts() {
        var none = RecomputePlan.NONE;
        return Stream.of(
                Arguments.of(TIED, zb(1, 1, 2, ZeroStage.NONE, 4), none),
                Arguments.of(UNTIED, zb(1, 1, 4, ZeroStage.NONE, 8), none),
                Arguments.of(TIED, zb(2, 2, 2, ZeroStage.THREE, 2), none),
                Arguments.of(TIED, zb(1, 2, 2, ZeroStage.NONE, 2).withSequenceParallel(true), none),
                Arguments.of(UNTIED, zb(1, 2, 2, ZeroStage.ONE, 4),
                        RecomputePlan.all(Recompute.SELECTIVE).with("layers.3", Recompute.FULL)));
    }

    @ParameterizedTest(name = "{1} recompute {2}")
    @MethodSource("layouts")
    void zbH1TrainsBitForBitAs1F1B(LlamaConfig config, ParallelLayout layout, RecomputePlan plan) {
        var oneF = new ParallelLayout(layout.dp(), layout.tp(), layout.pp(), layout.zero(), ScheduleKind.ONE_F_ONE_B,
                layout.microBatches(), 1, layout.sequenceParallel());
        Training.Result a = train(config, oneF, plan);
        Training.Result b = train(config, layout, plan);
        for (int s = 0; s < STEPS; s++) {
            StepMetrics x = a.steps().get(s);
            StepMetrics y = b.steps().get(s);
            assertEquals(Double.doubleToRawLongBits(x.loss()), Double.doubleToRawLongBits(y.loss()),
                    layout + ": loss of step " + s);
            assertEquals(Float.floatToRawIntBits(x.gradNorm()), Float.floatToRawIntBits(y.gradNorm()),
                    layout + ": gradient norm of step " + s);
        }
        for (var e : a.weights().all().entrySet()) {
            ModelWeights.Full other = b.weights().get(e.getKey());
            float[] u = e.getValue().values();
            float[] v = other.values();
            for (int i = 0; i < u.length; i++) {
                assertEquals(Float.floatToRawIntBits(u[i]), Float.floatToRawIntBits(v[i]), e.getKey() + "[" + i + "]");
            }
        }
    }

    private static Training.Result train(LlamaConfig config, ParallelLayout layout, RecomputePlan plan) {
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(3e-3, 3e-4, 1, STEPS), 1f, 0.01f,
                29, 16).withRecompute(plan);
        DataSource data = GptModel.tokens(DATA, 29, 16, config.seqLen());
        return new Training(new LlamaModel(config), layout, options,
                CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(60))).run(data, STEPS, m -> { }, true);
    }
}
