package dev.gatun.llama;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.train.Checkpointing;
import dev.gatun.train.DataSource;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.train.checkpoint.CheckpointDirectory;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine's checkpoints hold the Llama model unchanged: stopping and resuming in the same layout is the run that
 * never stopped, bit for bit, and a checkpoint of a 3D ZeRO-3 layout resumes resharded on one rank within fp32
 * summation order.
 */
@Timeout(180)
class LlamaCheckpointTest {
    private static final LlamaConfig CONFIG = new LlamaConfig(4, 4, 2, 32, 96, 16, 256, false, 10_000, null, 1e-5f);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(31, 300), new ByteTokenizer());
    private static final int STEPS = 6;

    private static Training training(ParallelLayout layout, PrecisionPolicy policy) {
        var options = new TrainOptions(policy, new LearningRateSchedule(3e-3, 3e-4, 2, STEPS), 1f, 0.01f, 8, 8);
        return new Training(new LlamaModel(CONFIG), layout, options, CommOptions.DEFAULT);
    }

    private static double[] losses(Training t, long steps) {
        DataSource data = GptModel.tokens(DATA, 8, 8, CONFIG.seqLen());
        return t.run(data, steps, m -> { }).steps().stream().mapToDouble(StepMetrics::loss).toArray();
    }

    @Test
    void stoppingAndResumingChangesNothing(@TempDir Path dir) {
        var layout = new ParallelLayout(2, 2, 2, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 2, 1);
        for (PrecisionPolicy policy : new PrecisionPolicy[] {PrecisionPolicy.FP32, PrecisionPolicy.BF16_MIXED}) {
            Path d = dir.resolve(policy.name());
            double[] straight = losses(training(layout, policy), STEPS);
            double[] first = losses(training(layout, policy).withCheckpointing(new Checkpointing(
                    new CheckpointDirectory(d, 2), 3, false)), 3);
            double[] second = losses(training(layout, policy).withCheckpointing(new Checkpointing(
                    new CheckpointDirectory(d, 2), 0, true)), STEPS);
            assertArrayEquals(Arrays.copyOfRange(straight, 0, 3), first, policy.name());
            assertArrayEquals(Arrays.copyOfRange(straight, 3, STEPS), second, policy.name() + ": resumed "
                    + Arrays.toString(second) + " vs straight " + Arrays.toString(straight));
        }
    }

    @Test
    void aCheckpointOfOneLayoutResumesInAnother(@TempDir Path dir) {
        var saved = new ParallelLayout(2, 2, 2, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 2, 1);
        double[] straight = losses(training(ParallelLayout.single(), PrecisionPolicy.FP32), STEPS);
        losses(training(saved, PrecisionPolicy.FP32).withCheckpointing(new Checkpointing(
                new CheckpointDirectory(dir, 2), 3, false)), 3);
        double[] resumed = losses(training(ParallelLayout.single(), PrecisionPolicy.FP32).withCheckpointing(
                new Checkpointing(new CheckpointDirectory(dir, 2), 0, true)), STEPS);
        for (int i = 0; i < resumed.length; i++) {
            double rel = Math.abs(resumed[i] - straight[3 + i]) / straight[3 + i];
            assertTrue(rel < 2e-5, "step " + (3 + i) + ": resumed " + resumed[i] + " vs " + straight[3 + i]);
        }
    }
}
