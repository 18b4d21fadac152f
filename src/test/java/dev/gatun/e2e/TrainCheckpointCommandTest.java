package dev.gatun.e2e;

import dev.gatun.train.RunLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static dev.gatun.e2e.TrainCommandTest.train;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code gatun train} with checkpoints as people misuse it: what {@code --resume} accepts and says, where a resumed
 * run saves, outputs checked before the first step, another run's checkpoints and a locked folder refused, CPU
 * training under a multi-process launch refused.
 */
@Timeout(180)
class TrainCheckpointCommandTest {
    private static List<String> steps(Path checkpoints) throws IOException {
        try (Stream<Path> dirs = Files.list(checkpoints)) {
            return dirs.map(d -> d.getFileName().toString()).sorted().toList();
        }
    }

    private static void assertRefused(Cli.Run r, String expected) {
        assertEquals(2, r.exit(), r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("gatun train: ") && r.err().contains(expected), r.err());
        assertFalse(r.out().contains("step "), "refused before the first step: " + r.out());
    }

    @Test
    void resumeTakesTheRunsFolderOrAStepFolderSaysWhatItResumesAndSavesIntoItsOwnOut(@TempDir Path dir)
            throws IOException {
        Path a = dir.resolve("a");
        assertEquals(0, train("--steps", "4", "--save-every", "2", "--out", a.toString()).exit());
        Cli.Run resumed = train("--steps", "6", "--save-every", "2", "--resume", a.toString(), "--out",
                dir.resolve("b").toString());
        assertEquals(0, resumed.exit(), resumed.err());
        assertTrue(resumed.out().contains("resume  " + a.resolve("checkpoints/step-00000004") + ": step 4, saved in "
                + "dp1 tp1 pp1"), resumed.out());
        assertEquals(List.of("step-00000002", "step-00000004"), steps(a.resolve("checkpoints")));
        assertEquals(List.of("step-00000006"), steps(dir.resolve("b/checkpoints")));
        Cli.Run fromStep = train("--steps", "5", "--resume", a.resolve("checkpoints/step-00000002").toString(), "--out",
                dir.resolve("c").toString());
        assertEquals(0, fromStep.exit(), fromStep.err());
        assertTrue(fromStep.out().contains(": step 2, saved in"), fromStep.out());
    }

    @Test
    void aResumePathWithoutACheckpointOrWithInitHfIsRefused(@TempDir Path dir) throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertRefused(train("--resume", empty.toString(), "--out", dir.resolve("o").toString()), "no checkpoint in");
        assertRefused(train("--resume", empty.toString(), "--init-hf", "x.safetensors"),
                "--resume and --init-hf both say where the weights come from");
    }

    @Test
    void outputsAreCheckedBeforeTheFirstStep(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("file"), "x");
        assertRefused(train("--out", file.toString()), "is a file, not a folder");
        assertRefused(train("--out", ""), "--out is empty");
        assertRefused(train("--out", file.resolve("sub").toString()), "cannot be created");
        assertRefused(train("--out", dir.resolve("o").toString(), "--export-hf", dir.toString()), "is a folder");
        assertRefused(train("--out", dir.resolve("o").toString(), "--export-hf", file.resolve("m.safetensors")
                .toString()), "--export-hf's folder " + file + " is a file");
    }

    @Test
    void anotherRunsCheckpointsAreRefusedUnlessOverwritten(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("run");
        assertEquals(0, train("--steps", "4", "--save-every", "2", "--out", out.toString()).exit());
        assertRefused(train("--steps", "2", "--save-every", "1", "--out", out.toString()),
                "holds checkpoints of another run (step-00000004 and 1 more)");
        Cli.Run overwritten = train("--steps", "2", "--save-every", "1", "--keep", "5", "--out", out.toString(),
                "--overwrite");
        assertEquals(0, overwritten.exit(), overwritten.err());
        assertTrue(overwritten.out().contains("removed " + out.resolve("checkpoints/step-00000004")), overwritten.out());
        assertEquals(List.of("step-00000001", "step-00000002"), steps(out.resolve("checkpoints")));
        Cli.Run continued = train("--steps", "3", "--save-every", "1", "--resume", out.toString(), "--out", out.toString());
        assertEquals(0, continued.exit(), "continuing its own run in its own folder: " + continued.err());
    }

    @Test
    void aFolderInUseByAnotherRunFailsFastNamingTheOwner(@TempDir Path dir) throws IOException {
        Path out = Files.createDirectories(dir.resolve("run"));
        try (RunLock held = RunLock.acquire(out)) {
            assertRefused(train("--steps", "2", "--out", out.toString()), "is in use by another run: pid "
                    + ProcessHandle.current().pid());
        }
        Cli.Run after = train("--steps", "2", "--out", out.toString());
        assertEquals(0, after.exit(), after.err());
        assertFalse(Files.exists(out.resolve(RunLock.FILE_NAME)), "the run cleared its lock");
    }

    @Test
    void cpuTrainingUnderALaunchOfTwoProcessesIsRefused(@TempDir Path dir) {
        Cli.Run r = Cli.run("launch", "--nproc", "2", "--timeout", "90s", "--", "train", "--dp", "2", "--steps",
                "1", "--out", dir.toString());
        assertEquals(2, r.exit(), r.out() + "\n" + r.err());
        assertTrue((r.out() + "\n" + r.err()).contains("each process would run the whole job"), r.toString());
    }
}
