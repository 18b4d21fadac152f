package dev.gatun.e2e;

import dev.gatun.cli.GatunCli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code gatun launch}: real local launches, each rank a JVM started from this one's class path (Surefire's test
 * class path, which it puts in {@code java.class.path}) running {@code gatun rendezvous-check}.
 */
@Timeout(60)
class LaunchCommandTest {
    /** What one run of the command line printed, and how it exited. */
    private record Run(int exitCode, String out, String err, Duration elapsed) {
        @Override
        public String toString() {
            return "exit " + exitCode + " after " + elapsed.toMillis() + " ms\n--- out:\n" + out + "--- err:\n" + err;
        }
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = GatunCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        long start = System.nanoTime();
        int exitCode = cli.execute(args);
        return new Run(exitCode, out.toString(), err.toString(), Duration.ofNanos(System.nanoTime() - start));
    }

    @Test
    void twoRanksMeetAtTheRendezvous() {
        Run run = run("launch", "--nproc", "2", "--timeout", "40s", "--", "rendezvous-check", "--timeout", "30s");
        assertEquals(0, run.exitCode(), run::toString);
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(Pattern.compile("(?m)^\\[rank " + rank + "] rank " + rank
                    + " of 2 joined the rendezvous at 127\\.0\\.0\\.1:\\d+$").matcher(run.out()).find(), run::toString);
        }
        assertEquals("", run.err(), run::toString);
    }

    @Test
    void aFailingRankEndsTheLaunchWithItsExitCodeAndTheOthersAreStopped() {
        Run run = run("launch", "--nproc", "2", "--timeout", "60s", "--grace", "5s", "--",
                "rendezvous-check", "--fail-rank", "1");
        assertEquals(3, run.exitCode(), run::toString);
        assertTrue(run.out().contains("[rank 1] rank 1 failing on purpose\n"), run::toString);
        assertTrue(run.out().contains("[rank 0] rank 0 of 2 joined the rendezvous"), run::toString);
        assertEquals("gatun launch: rank 1 failed first with exit code 3; the launcher stopped ranks [0]\n",
                run.err(), run::toString);
        // rank 0 waits 60 s for a key nobody sets unless the launcher stops it: this bounds a hang, not a speed
        assertTrue(run.elapsed().toSeconds() < 45, run::toString);
    }

    @Test
    void invalidArgumentsAreRefusedInOneLine() {
        Run zero = run("launch", "--nproc", "0", "--", "info");
        assertEquals(2, zero.exitCode(), zero::toString);
        assertEquals("gatun launch: --nproc=0 must be >= 1\n", zero.err(), zero::toString);
        assertEquals("", zero.out(), zero::toString);

        Run nothing = run("launch", "--nproc", "2");
        assertEquals(2, nothing.exitCode(), nothing::toString);
        assertTrue(nothing.err().startsWith("gatun launch: nothing to run") && nothing.err().lines().count() == 1,
                nothing::toString);
    }

    @Test
    void rendezvousCheckOutsideALaunchSaysHowToRunIt() {
        if (System.getenv("RANK") != null || System.getenv("WORLD_SIZE") != null) {
            return; // this JVM itself runs under a launcher
        }
        Run run = run("rendezvous-check");
        assertEquals(2, run.exitCode(), run::toString);
        assertTrue(run.err().contains("gatun launch --nproc N -- rendezvous-check, or under torchrun"),
                run::toString);
    }
}
