package dev.gatun.pipeline;

/**
 * A step of a {@link PipelineExecutor} failed: a stage's forward or backward, the loss, or a send/receive. Says which
 * rank, which step and which action; the cause is the original failure.
 */
public final class PipelineExecutionException extends RuntimeException {
    private final int rank;
    private final int step;

    PipelineExecutionException(int rank, int step, String what, Throwable cause) {
        super("pipeline rank " + rank + " step " + step + " (" + what + ") failed: " + cause, cause);
        this.rank = rank;
        this.step = step;
    }

    /** The rank that failed. */
    public int rank() {
        return rank;
    }

    /** The index of the failing step in that rank's {@link Schedule#steps(int)}. */
    public int step() {
        return step;
    }
}
