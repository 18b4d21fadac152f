package dev.gatun.gpt.train;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sequence parallelism changes where the activations between the tensor-parallel regions live, not the model: three
 * steps with {@code --sequence-parallel} give every step's loss and gradient norm and every final parameter of the
 * same layout without it, within fp32 summation order (the LayerNorms' gradients are summed over each rank's token
 * rows, then over the ranks), in layouts with tp 2 and 4, pipelines, ZeRO and mixed precision. The gradient norm
 * is compared tightly because Adam's update hides a gradient that is off by a constant factor; the norm does not.
 */
@Timeout(300)
class SequenceParallelTest {
    private static final GptConfig TIED = new GptConfig(4, 4, 32, 24, 256, true);
    private static final GptConfig UNTIED = new GptConfig(2, 4, 32, 24, 256, false);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(37, 500), new ByteTokenizer());
    private static final int STEPS = 3;

    private static ParallelLayout layout(int dp, int tp, int pp, ZeroStage zero, ScheduleKind schedule, int m) {
        return new ParallelLayout(dp, tp, pp, zero, schedule, m, 1);
    }

    static Stream<Arguments> layouts() {
        var oneF = ScheduleKind.ONE_F_ONE_B;
        return Stream.of(
                Arguments.of(TIED, layout(1, 2, 1, ZeroStage.NONE, oneF, 1), PrecisionPolicy.FP32),
                Arguments.of(TIED, layout(1, 4, 1, ZeroStage.NONE, oneF, 2), PrecisionPolicy.FP32),
                Arguments.of(TIED, layout(1, 2, 2, ZeroStage.NONE, oneF, 4), PrecisionPolicy.FP32),
                Arguments.of(UNTIED, layout(1, 4, 2, ZeroStage.NONE, ScheduleKind.ZB_H1, 2), PrecisionPolicy.FP32),
                Arguments.of(TIED, layout(2, 2, 2, ZeroStage.THREE, oneF, 2), PrecisionPolicy.FP32),
                Arguments.of(TIED, layout(2, 2, 1, ZeroStage.TWO, oneF, 2), PrecisionPolicy.BF16_MIXED));
    }

    @ParameterizedTest(name = "{1} {2}")
    @MethodSource("layouts")
    void trainsAsWithoutIt(GptConfig config, ParallelLayout layout, PrecisionPolicy policy) {
        Training.Result without = train(config, layout, policy);
        Training.Result with = train(config, layout.withSequenceParallel(true), policy);
        String what = layout + " sp " + policy.name();
        double tol = policy == PrecisionPolicy.FP32 ? 1e-5 : 1e-3;
        for (int s = 0; s < STEPS; s++) {
            StepMetrics a = without.steps().get(s);
            StepMetrics b = with.steps().get(s);
            assertEquals(a.loss(), b.loss(), tol * Math.abs(a.loss()), what + ": loss of step " + s);
            assertEquals(a.gradNorm(), b.gradNorm(), tol * Math.abs(a.gradNorm()), what + ": gradient norm of step "
                    + s);
        }
        Map<String, ModelWeights.Full> want = without.weights().all();
        Map<String, ModelWeights.Full> got = with.weights().all();
        assertEquals(want.keySet(), got.keySet());
        for (var e : want.entrySet()) {
            float[] a = e.getValue().values();
            float[] b = got.get(e.getKey()).values();
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 10 * tol, what + ": " + e.getKey() + "[" + i + "]");
            }
        }
    }

    /** The activations between the tp regions are split: the peak of activation memory per rank falls. */
    @Test
    void splitsTheActivationsBetweenTheRegions() {
        var layout = layout(1, 4, 1, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 1);
        long without = peakActivations(train(TIED, layout, PrecisionPolicy.FP32));
        long with = peakActivations(train(TIED, layout.withSequenceParallel(true), PrecisionPolicy.FP32));
        assertTrue(with < without, "sequence parallel " + with + " bytes vs " + without);
    }

    @Test
    void needsTensorParallelismAndTokensThatSplit() {
        var e = assertThrows(IllegalArgumentException.class, () -> layout(2, 1, 1, ZeroStage.NONE,
                ScheduleKind.ONE_F_ONE_B, 1).withSequenceParallel(true));
        assertEquals("--sequence-parallel needs --tp >= 2, got 1 (it splits the activations between the "
                + "tensor-parallel regions over the tp group)", e.getMessage());
        var odd = new GptConfig(2, 4, 32, 5, 256, true);
        var e2 = assertThrows(IllegalArgumentException.class, () -> layout(1, 2, 1, ZeroStage.NONE,
                ScheduleKind.ONE_F_ONE_B, 1).withSequenceParallel(true).validate(new GptModel(odd), 3));
        assertEquals("--sequence-parallel splits a micro-batch's 15 tokens over --tp 2, which must divide them: "
                + "change --batch, --microbatches or the sequence length", e2.getMessage());
    }

    private static long peakActivations(Training.Result r) {
        return r.ranks().stream().mapToLong(k -> k.memory().usage(MemoryCategory.ACTIVATIONS).peakBytes()).max()
                .orElseThrow();
    }

    private static Training.Result train(GptConfig config, ParallelLayout layout, PrecisionPolicy policy) {
        var options = new TrainOptions(policy, new LearningRateSchedule(3e-3, 3e-4, 1, STEPS), 1f, 0.01f, 41, 8);
        return new GptTraining(config, layout, options, CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(60)))
                .run(DATA, STEPS, m -> { }, true);
    }
}
