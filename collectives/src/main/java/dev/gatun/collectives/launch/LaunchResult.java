package dev.gatun.collectives.launch;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * How a {@link LocalLauncher} run ended.
 *
 * @param exitCodes    each rank's exit code, indexed by rank; a rank the launcher stopped shows the signal's code
 *                     (143 after SIGTERM, 137 after SIGKILL)
 * @param firstFailure the first rank seen to exit with a non-zero code on its own, if any
 * @param timedOut     whether the overall timeout ran out before every rank had exited
 * @param stoppedRanks the ranks the launcher had to stop, after the first failure or the timeout
 * @param elapsed      from the first process start until the last exit
 */
public record LaunchResult(List<Integer> exitCodes, Optional<RankFailure> firstFailure, boolean timedOut,
                           List<Integer> stoppedRanks, Duration elapsed) {
    /** A rank that exited with a non-zero code. */
    public record RankFailure(int rank, int exitCode) {
    }

    public LaunchResult {
        exitCodes = List.copyOf(exitCodes);
        stoppedRanks = List.copyOf(stoppedRanks);
    }

    /** Whether every rank exited 0 within the timeout. */
    public boolean succeeded() {
        return !timedOut && firstFailure.isEmpty();
    }

    /** One line for a log or an error message. */
    public String summary() {
        String stopped = stoppedRanks.isEmpty() ? "" : "; the launcher stopped ranks " + stoppedRanks;
        if (timedOut) {
            return "timed out after " + elapsed.toMillis() + " ms" + stopped;
        }
        return firstFailure.map(f -> "rank " + f.rank() + " failed first with exit code " + f.exitCode() + stopped)
                .orElse("all " + exitCodes.size() + " ranks exited 0 in " + elapsed.toMillis() + " ms");
    }
}
