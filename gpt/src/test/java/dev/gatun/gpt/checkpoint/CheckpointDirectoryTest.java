package dev.gatun.gpt.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.Checkpointing;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.Training;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.gatun.train.checkpoint.CheckpointDirectory;
import dev.gatun.gpt.train.GptTraining;

/**
 * What a checkpoint directory refuses to load and what it keeps: every file a restore reads is listed, sized and
 * checksummed; a malformed {@code checkpoint.json} is one line naming the file and the field; the newest checkpoint
 * that fails falls back to the newest that verifies; a run prunes only its own checkpoints; a user's path to resume
 * from is a run's folder, its checkpoints folder or one step folder.
 */
@Timeout(120)
class CheckpointDirectoryTest {
    private static final GptConfig CONFIG = new GptConfig(2, 2, 16, 8, 256, true);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(5, 200), new ByteTokenizer());
    private static final ParallelLayout DP2 = new ParallelLayout(2, 1, 1, ZeroStage.ONE, ScheduleKind.ONE_F_ONE_B, 1, 1);
    private static final ObjectMapper JSON = new ObjectMapper();

    private static GptTraining training(long steps) {
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(3e-3, 3e-4, 1, steps), 1f, 0f,
                3, 4);
        return new GptTraining(CONFIG, DP2, options, CommOptions.DEFAULT);
    }

    private static double[] losses(Training.Result r) {
        return r.steps().stream().mapToDouble(StepMetrics::loss).toArray();
    }

    /** Saves steps 1..{@code steps} of a 2-rank run into {@code dir}, keeping {@code keep}. */
    private static CheckpointDirectory saved(Path dir, long steps, int keep) {
        var directory = new CheckpointDirectory(dir, keep);
        training(steps).withCheckpointing(new Checkpointing(directory, 1, false)).run(DATA, steps, m -> { });
        return directory;
    }

    private static void edit(CheckpointDirectory d, long step, java.util.function.Consumer<ObjectNode> change)
            throws IOException {
        Path file = d.stepDirectory(step).resolve(CheckpointDirectory.INFO);
        ObjectNode node = (ObjectNode) JSON.readTree(file.toFile());
        change.accept(node);
        Files.writeString(file, JSON.writeValueAsString(node));
    }

    @Test
    void aRankFileThatTheListingOmitsIsNotLoaded(@TempDir Path dir) throws IOException {
        var d = saved(dir, 2, 2);
        // the NaN-filled file that used to load: rank 0's file replaced, the listing emptied
        Files.write(d.rankFile(2, 0), new byte[64]);
        edit(d, 2, n -> n.putObject("files"));
        var e = assertThrows(IllegalArgumentException.class, () -> d.verify(2));
        assertTrue(e.getMessage().contains("field 'files' does not list rank-00000.safetensors"), e.getMessage());
        edit(d, 2, n -> ((ObjectNode) n.get("files")).putObject("rank-00000.safetensors").put("size", 64)
                .put("crc32c", 0));
        e = assertThrows(IllegalArgumentException.class, () -> d.verify(2));
        assertTrue(e.getMessage().contains("rank-00001.safetensors"), e.getMessage());
    }

    @Test
    void aListedNameOutsideTheDirectoryIsRefusedBeforeAnythingIsOpened(@TempDir Path dir) throws IOException {
        var d = saved(dir, 1, 1);
        Files.writeString(dir.resolve("secret"), "not a checkpoint, 30 bytes long");
        edit(d, 1, n -> ((ObjectNode) n.get("files")).putObject("../secret").put("size", 1).put("crc32c", 1));
        var e = assertThrows(IllegalArgumentException.class, () -> d.verify(1));
        assertTrue(e.getMessage().contains("lists '../secret', not a rank file of this directory"), e.getMessage());
        assertFalse(e.getMessage().contains("bytes"), "says nothing of the file it was pointed at: " + e.getMessage());
    }

    @Test
    void aMalformedListingIsOneLineNamingTheFileAndTheField(@TempDir Path dir) throws IOException {
        var d = saved(dir, 1, 1);
        Path info = d.stepDirectory(1).resolve(CheckpointDirectory.INFO);
        String good = Files.readString(info);
        for (String[] bad : new String[][]{{"{}", "field 'step' is missing"}, {"[]", "is not a JSON object"},
                {"{\"step\": 1, \"world_size\": 0}", "field 'world_size' must be in [1, 2^20], got 0"},
                {"not json", "is not valid JSON"}}) {
            Files.writeString(info, bad[0]);
            var e = assertThrows(IllegalArgumentException.class, () -> d.verify(1), bad[0]);
            assertTrue(e.getMessage().startsWith(info.toString()) && e.getMessage().contains(bad[1]), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
        for (String field : List.of("files", "extra", "layout", "model", "world_size")) {
            Files.writeString(info, good);
            edit(d, 1, n -> n.remove(field));
            var e = assertThrows(IllegalArgumentException.class, () -> d.verify(1), field);
            assertEquals(info + ": field '" + field + "' is missing", e.getMessage());
        }
        Files.writeString(info, good);
        edit(d, 1, n -> n.put("step", 7));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> d.verify(1)).getMessage()
                .contains("field 'step' is 7 but the directory is of step 1"));
    }

    @Test
    void theNewestThatFailsFallsBackToTheNewestThatVerifiesOrNamesThemAll(@TempDir Path dir) throws IOException {
        var d = saved(dir, 3, 2);
        Files.write(d.rankFile(3, 1), new byte[10]);
        var found = d.newestVerified().orElseThrow();
        assertEquals(2, found.info().step());
        assertEquals(1, found.rejected().size());
        assertTrue(found.rejected().getFirst().contains(d.rankFile(3, 1).toString()), found.rejected().toString());
        Files.write(d.rankFile(2, 0), new byte[10]);
        var e = assertThrows(IllegalArgumentException.class, d::newestVerified);
        assertTrue(e.getMessage().startsWith("no checkpoint in " + dir + " verifies")
                && e.getMessage().contains(d.rankFile(3, 1).toString())
                && e.getMessage().contains(d.rankFile(2, 0).toString()), e.getMessage());
    }

    @Test
    void aRunPrunesOnlyItsOwnCheckpoints(@TempDir Path dir) {
        var d = saved(dir, 5, 2); // an older run's steps 4 and 5
        String older = d.runIdOf(5);
        saved(dir, 2, 2); // a new run in the same folder, fewer steps
        assertEquals(List.of(1L, 2L, 4L, 5L), d.committedSteps());
        assertEquals(older, d.runIdOf(4));
        assertFalse(older.equals(d.runIdOf(2)), "each run has its own id");
        assertEquals(d.runIdOf(1), d.runIdOf(2));
    }

    @Test
    void aResumedRunKeepsItsIdAndItsNewCheckpointsGoWhereItSaves(@TempDir Path dir) {
        var first = saved(dir.resolve("first"), 2, 2);
        var found = CheckpointDirectory.locate(dir.resolve("first"));
        var next = new CheckpointDirectory(dir.resolve("second"), 2);
        double[] resumed = losses(training(4).withCheckpointing(new Checkpointing(next, 1, found))
                .run(DATA, 4, m -> { }));
        double[] straight = losses(training(4).run(DATA, 4, m -> { }));
        assertArrayEquals(Arrays.copyOfRange(straight, 2, 4), resumed);
        assertEquals(List.of(1L, 2L), first.committedSteps(), "the folder resumed from is left as it was");
        assertEquals(List.of(3L, 4L), next.committedSteps());
        assertEquals(first.runIdOf(2), next.runIdOf(4));
    }

    @Test
    void locateAcceptsTheRunsFolderItsCheckpointsFolderOrAStepFolder(@TempDir Path dir) throws IOException {
        saved(dir.resolve("run/checkpoints"), 2, 2);
        assertEquals(2, CheckpointDirectory.locate(dir.resolve("run")).info().step());
        assertEquals(2, CheckpointDirectory.locate(dir.resolve("run/checkpoints")).info().step());
        assertEquals(1, CheckpointDirectory.locate(dir.resolve("run/checkpoints/step-00000001")).info().step());
        var e = assertThrows(IllegalArgumentException.class,
                () -> CheckpointDirectory.locate(Files.createDirectories(dir.resolve("empty"))));
        assertTrue(e.getMessage().startsWith("no checkpoint in " + dir.resolve("empty")), e.getMessage());
        Files.createDirectories(dir.resolve("unfinished/step-00000004"));
        e = assertThrows(IllegalArgumentException.class, () -> CheckpointDirectory.locate(dir.resolve("unfinished")));
        assertTrue(e.getMessage().contains("saves that did not finish"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CheckpointDirectory.locate(dir.resolve("missing")));
    }
}
