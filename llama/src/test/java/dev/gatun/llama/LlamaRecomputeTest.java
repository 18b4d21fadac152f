package dev.gatun.llama;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.train.DataSource;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.Recompute;
import dev.gatun.train.RecomputePlan;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Activation recomputation changes the Llama model's memory, never its numbers: selective, full and a per-layer mix
 * give every step's loss and gradient norm of the run without it, bit for bit (CPU backend), in single, tp + pp and
 * 3D ZeRO-3 layouts; and the peak of activation memory falls.
 */
@Timeout(300)
class LlamaRecomputeTest {
    private static final LlamaConfig CONFIG = new LlamaConfig(4, 4, 2, 32, 96, 24, 256, true, 10_000, null, 1e-5f);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(41, 500), new ByteTokenizer());
    private static final int STEPS = 3;

    static Stream<ParallelLayout> layouts() {
        return Stream.of(ParallelLayout.single(),
                new ParallelLayout(1, 2, 2, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 2, 1),
                new ParallelLayout(2, 2, 2, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 2, 1));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void everyModeTrainsBitForBitAsWithoutRecomputation(ParallelLayout layout) {
        Training.Result reference = train(layout, RecomputePlan.NONE);
        for (RecomputePlan plan : List.of(RecomputePlan.all(Recompute.SELECTIVE), RecomputePlan.all(Recompute.FULL),
                RecomputePlan.all(Recompute.SELECTIVE).with("layers.0", Recompute.FULL))) {
            Training.Result run = train(layout, plan);
            for (int s = 0; s < STEPS; s++) {
                StepMetrics a = reference.steps().get(s);
                StepMetrics b = run.steps().get(s);
                assertEquals(Double.doubleToRawLongBits(a.loss()), Double.doubleToRawLongBits(b.loss()),
                        layout + " " + plan + ": loss of step " + s);
                assertEquals(Float.floatToRawIntBits(a.gradNorm()), Float.floatToRawIntBits(b.gradNorm()),
                        layout + " " + plan + ": gradient norm of step " + s);
            }
            if (layout.worldSize() == 1) {
                assertTrue(peak(run) < peak(reference), plan + ": " + peak(run) + " vs " + peak(reference));
            }
        }
    }

    private static long peak(Training.Result r) {
        return r.ranks().stream().mapToLong(k -> k.memory().usage(MemoryCategory.ACTIVATIONS).peakBytes()).max()
                .orElseThrow();
    }

    private static Training.Result train(ParallelLayout layout, RecomputePlan plan) {
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(3e-3, 3e-4, 1, STEPS), 1f, 0.01f,
                23, 8).withRecompute(plan);
        DataSource data = GptModel.tokens(DATA, 23, 8, CONFIG.seqLen());
        return new Training(new LlamaModel(CONFIG), layout, options,
                CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(60))).run(data, STEPS, m -> { });
    }
}
