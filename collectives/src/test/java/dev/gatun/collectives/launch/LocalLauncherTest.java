package dev.gatun.collectives.launch;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real launches: each rank is a JVM running {@link LaunchedRank}. */
@Timeout(30)
class LocalLauncherTest {
    private final ByteArrayOutputStream captured = new ByteArrayOutputStream();
    private final PrintStream output = new PrintStream(captured, true, StandardCharsets.UTF_8);

    /** The command that runs {@link LaunchedRank} in a fresh JVM like this one, tuned to start fast. */
    private static List<String> javaCommand(String... args) {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto",
                "-cp", System.getProperty("java.class.path"), LaunchedRank.class.getName()));
        command.addAll(List.of(args));
        return command;
    }

    private String lines() {
        return captured.toString(StandardCharsets.UTF_8);
    }

    @Test
    void threeJvmsShareRankZerosIdThroughTheStore() throws InterruptedException {
        var result = new LocalLauncher(3, output, Duration.ofSeconds(25)).launch(javaCommand("broadcast"));
        String out = lines();
        assertTrue(result.succeeded(), result.summary() + "\n" + out);
        assertEquals(List.of(0, 0, 0), result.exitCodes());

        Matcher m = Pattern.compile("(?m)^\\[rank (\\d)] nccl-id ([0-9a-f]+)$").matcher(out);
        List<String> ids = new ArrayList<>();
        List<String> ranks = new ArrayList<>();
        while (m.find()) {
            ranks.add(m.group(1));
            ids.add(m.group(2));
        }
        assertEquals(List.of("0", "1", "2"), ranks.stream().sorted().toList(), out);
        assertEquals(256, ids.getFirst().length(), "128 bytes in hex");
        assertEquals(1, ids.stream().distinct().count(), out);
        for (int rank = 1; rank < 3; rank++) {
            assertTrue(out.contains("[rank " + rank + "] wrong token refused\n"), out);
        }
        assertTrue(out.contains("[rank 2] rank 2 of 3 done\n"), "stderr is copied too:\n" + out);
    }

    @Test
    void aFailingRankStopsTheOthersAndIsReported() throws InterruptedException {
        var result = new LocalLauncher(3, output, Duration.ofSeconds(25), Duration.ofSeconds(5))
                .launch(javaCommand("fail", "1", "3"));
        assertEquals(Optional.of(new LaunchResult.RankFailure(1, 3)), result.firstFailure(), lines());
        assertEquals(List.of(0, 2), result.stoppedRanks());
        assertEquals(List.of(143, 3, 143), result.exitCodes(), "128 + SIGTERM for the stopped ranks");
        for (int rank = 0; rank < 3; rank++) {
            assertTrue(lines().contains("[rank " + rank + "] started\n"), lines());
        }
        assertTrue(result.elapsed().toSeconds() < 20, "the sleeping ranks were stopped: " + result.elapsed());
        assertEquals("rank 1 failed first with exit code 3; the launcher stopped ranks [0, 2]", result.summary());
    }

    @Test
    void theOverallTimeoutStopsEveryRank() throws InterruptedException {
        var result = new LocalLauncher(2, output, Duration.ofMillis(1500), Duration.ofSeconds(2))
                .launch(javaCommand("sleep"));
        assertTrue(result.timedOut());
        assertEquals(Optional.empty(), result.firstFailure());
        assertEquals(List.of(0, 1), result.stoppedRanks());
        assertTrue(result.summary().startsWith("timed out after "), result.summary());
    }

    @Test
    void aCommandThatCannotStartIsNamed() {
        var e = assertThrows(UncheckedIOException.class, () -> new LocalLauncher(2, output, Duration.ofSeconds(5))
                .launch(List.of("/nonexistent/gatun-rank")));
        assertTrue(e.getMessage().startsWith("could not start rank 0 with [/nonexistent/gatun-rank]: "),
                e.getMessage());
    }

    @Test
    void invalidLaunchesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new LocalLauncher(0, output, Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> new LocalLauncher(1, output, Duration.ZERO));
        assertThrows(IllegalArgumentException.class,
                () -> new LocalLauncher(1, output, Duration.ofSeconds(1)).launch(List.of()));
    }
}
