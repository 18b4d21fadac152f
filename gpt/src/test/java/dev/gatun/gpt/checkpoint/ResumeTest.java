package dev.gatun.gpt.checkpoint;

import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.Checkpointing;
import dev.gatun.train.Training;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.gatun.train.checkpoint.CheckpointDirectory;
import dev.gatun.gpt.train.GptTraining;

/** Save, stop, resume: the run that resumed is the run that never stopped, bit for bit. */
@Timeout(180)
class ResumeTest {
    private static final GptConfig CONFIG = new GptConfig(4, 4, 32, 16, 256, true);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(13, 300), new ByteTokenizer());
    private static final int STEPS = 6;

    record Case(ParallelLayout layout, PrecisionPolicy policy) {
        @Override
        public String toString() {
            return layout + " " + policy.name();
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case(ParallelLayout.single(), PrecisionPolicy.FP32),
                new Case(new ParallelLayout(2, 2, 2, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 2, 1),
                        PrecisionPolicy.FP32),
                new Case(new ParallelLayout(1, 1, 2, ZeroStage.NONE, ScheduleKind.INTERLEAVED, 2, 2),
                        PrecisionPolicy.FP32),
                new Case(new ParallelLayout(2, 1, 1, ZeroStage.ONE, ScheduleKind.ONE_F_ONE_B, 1, 1),
                        PrecisionPolicy.FP16_MIXED),
                new Case(new ParallelLayout(2, 1, 1, ZeroStage.TWO, ScheduleKind.ONE_F_ONE_B, 1, 1),
                        PrecisionPolicy.BF16_MIXED));
    }

    private static GptTraining training(Case c) {
        var options = new TrainOptions(c.policy(), new LearningRateSchedule(3e-3, 3e-4, 2, STEPS), 1f, 0.01f, 8, 8);
        return new GptTraining(CONFIG, c.layout(), options, CommOptions.DEFAULT);
    }

    private static double[] losses(Training.Result r) {
        return r.steps().stream().mapToDouble(StepMetrics::loss).toArray();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void stoppingAndResumingChangesNothing(Case c, @TempDir Path dir) {
        double[] straight = losses(training(c).run(DATA, STEPS, m -> { }));
        var saving = training(c).withCheckpointing(new Checkpointing(new CheckpointDirectory(dir, 2), 3, false));
        double[] firstHalf = losses(saving.run(DATA, 3, m -> { }));
        var resuming = training(c).withCheckpointing(new Checkpointing(new CheckpointDirectory(dir, 2), 0, true));
        double[] secondHalf = losses(resuming.run(DATA, STEPS, m -> { }));
        assertArrayEquals(Arrays.copyOfRange(straight, 0, 3), firstHalf);
        assertArrayEquals(Arrays.copyOfRange(straight, 3, STEPS), secondHalf,
                "resumed " + Arrays.toString(secondHalf) + " vs straight " + Arrays.toString(straight));
    }

    @Test
    void aSaveThatDiedLeavesThePreviousCheckpointAndCorruptionIsNamed(@TempDir Path dir) throws IOException {
        Case c = new Case(new ParallelLayout(2, 1, 1, ZeroStage.TWO, ScheduleKind.ONE_F_ONE_B, 1, 1),
                PrecisionPolicy.FP32);
        var directory = new CheckpointDirectory(dir, 2);
        training(c).withCheckpointing(new Checkpointing(directory, 1, false)).run(DATA, 3, m -> { });
        assertEquals(List.of(2L, 3L), directory.committedSteps(), "keeps the newest 2");

        // a save of step 4 that died after rank 0 wrote its file: no checkpoint.json, so step 3 is still the latest
        Files.createDirectories(directory.stepDirectory(4));
        Files.copy(directory.rankFile(3, 0), directory.rankFile(4, 0));
        assertEquals(3, directory.newestVerified().orElseThrow().info().step());

        Path file = directory.rankFile(3, 1);
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 5] ^= 0x40;
        Files.write(file, bytes);
        var e = assertThrows(IllegalArgumentException.class, () -> directory.verify(3));
        assertEquals("checkpoint file " + file + " fails its checksum (corrupt)", e.getMessage());
        var found = directory.newestVerified().orElseThrow();
        assertEquals(2, found.info().step(), "falls back to the newest checkpoint that verifies");
        assertEquals(List.of("checkpoint file " + file + " fails its checksum (corrupt)"), found.rejected());
        Files.write(file, Arrays.copyOf(bytes, bytes.length - 9), StandardOpenOption.TRUNCATE_EXISTING);
        e = assertThrows(IllegalArgumentException.class, () -> directory.verify(3));
        assertTrue(e.getMessage().startsWith("checkpoint file " + file + " has "), e.getMessage());
        assertEquals(2, directory.verify(2).step(), "the older checkpoint still verifies");
    }

    /** A save whose writes fail (its directory cannot be created) fails the run; the previous checkpoint still loads. */
    @Test
    void aFailedSaveLeavesThePreviousCheckpointLoadable(@TempDir Path dir) throws IOException {
        Case c = new Case(new ParallelLayout(2, 1, 1, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 1, 1),
                PrecisionPolicy.FP32);
        var directory = new CheckpointDirectory(dir, 3);
        Files.writeString(directory.stepDirectory(4), "in the way"); // a file where step 4's directory would go
        var run = training(c).withCheckpointing(new Checkpointing(directory, 2, false));
        assertThrows(RuntimeException.class, () -> run.run(DATA, STEPS, m -> { }));
        assertEquals(List.of(2L), directory.committedSteps());
        double[] straight = losses(training(c).run(DATA, STEPS, m -> { }));
        double[] resumed = losses(training(c).withCheckpointing(new Checkpointing(directory, 0, true))
                .run(DATA, STEPS, m -> { }));
        assertArrayEquals(Arrays.copyOfRange(straight, 2, STEPS), resumed);
    }

    static Stream<ParallelLayout> reshardTargets() {
        return Stream.of(
                new ParallelLayout(2, 2, 1, ZeroStage.TWO, ScheduleKind.ONE_F_ONE_B, 1, 1),
                new ParallelLayout(1, 2, 2, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 2, 1),
                new ParallelLayout(1, 1, 2, ZeroStage.ONE, ScheduleKind.INTERLEAVED, 2, 2),
                ParallelLayout.single());
    }

    /**
     * Saved at dp4 with ZeRO-3 after 3 steps, loaded into another layout (each rank putting its shards together from
     * all four files), 3 more steps: the loss curve of the run that never changed layout, within fp32 summation
     * tolerance (the layouts sum in different orders).
     */
    @ParameterizedTest(name = "dp4 zero3 -> {0}")
    @MethodSource("reshardTargets")
    void aCheckpointLoadsIntoAnotherLayout(ParallelLayout target, @TempDir Path dir) {
        Case saved = new Case(new ParallelLayout(4, 1, 1, ZeroStage.THREE, ScheduleKind.ONE_F_ONE_B, 1, 1),
                PrecisionPolicy.FP32);
        double[] straight = losses(training(saved).run(DATA, STEPS, m -> { }));
        training(saved).withCheckpointing(new Checkpointing(new CheckpointDirectory(dir, 1), 3, false))
                .run(DATA, 3, m -> { });
        double[] resumed = losses(training(new Case(target, PrecisionPolicy.FP32))
                .withCheckpointing(new Checkpointing(new CheckpointDirectory(dir, 1), 0, true)).run(DATA, STEPS, m -> { }));
        assertEquals(3, resumed.length);
        for (int i = 0; i < 3; i++) {
            double rel = Math.abs(resumed[i] - straight[3 + i]) / straight[3 + i];
            assertTrue(rel < 2e-5, "step " + (3 + i) + ": " + resumed[i] + " vs " + straight[3 + i] + " (" + rel + ")");
        }
        assertTrue(Math.abs(resumed[0] - straight[0]) > 1e-3, "the resumed run starts where the saved one stopped");
    }

    @Test
    void resumingWithAnotherPrecisionSaysSo(@TempDir Path dir) {
        Case saved = new Case(new ParallelLayout(2, 1, 1, ZeroStage.ONE, ScheduleKind.ONE_F_ONE_B, 1, 1),
                PrecisionPolicy.FP32);
        training(saved).withCheckpointing(new Checkpointing(new CheckpointDirectory(dir, 1), 2, false))
                .run(DATA, 2, m -> { });
        Case other = new Case(saved.layout(), PrecisionPolicy.BF16_MIXED);
        var e = assertThrows(RuntimeException.class, () -> training(other)
                .withCheckpointing(new Checkpointing(new CheckpointDirectory(dir, 1), 0, true)).run(DATA, 4, m -> { }));
        Throwable root = e;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        assertTrue(root.getMessage().endsWith("was saved with precision fp32, this run has bf16-mixed: resume with "
                + "the same settings"), root.getMessage());
    }
}
