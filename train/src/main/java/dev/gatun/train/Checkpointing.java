package dev.gatun.train;

import dev.gatun.train.checkpoint.CheckpointDirectory;

import java.util.Objects;
import java.util.UUID;

/**
 * When a run saves and where it resumes from: every {@code saveEvery} steps (0: never) each rank writes its state into
 * {@code directory}; with {@code resumeFrom} (a verified checkpoint, possibly of another directory) the run starts
 * from it. Everything else a step depends on follows from the step number (the batch, the learning rate) or from the
 * seed.
 *
 * @param runId this run's id, recorded in each checkpoint it saves: pruning to the newest {@code keep} checkpoints
 *              touches only this run's. A resumed run keeps the id of the checkpoint it resumes.
 */
public record Checkpointing(CheckpointDirectory directory, long saveEvery, CheckpointDirectory.Found resumeFrom,
                            String runId) {
    public Checkpointing {
        Objects.requireNonNull(directory, "directory must not be null");
        Objects.requireNonNull(runId, "runId must not be null");
        if (saveEvery < 0) {
            throw new IllegalArgumentException("--save-every must be >= 0, got " + saveEvery);
        }
    }

    /**
     * Saves into {@code directory}; with {@code resume}, starts from its newest verified checkpoint, if any (looked up
     * and verified now).
     */
    public Checkpointing(CheckpointDirectory directory, long saveEvery, boolean resume) {
        this(directory, saveEvery, resume ? directory.newestVerified().orElse(null) : null);
    }

    /** Saves into {@code directory}, resuming from {@code resumeFrom} (null: from scratch) and keeping its run id. */
    public Checkpointing(CheckpointDirectory directory, long saveEvery, CheckpointDirectory.Found resumeFrom) {
        this(directory, saveEvery, resumeFrom, resumeFrom != null && !resumeFrom.info().runId().isEmpty()
                ? resumeFrom.info().runId() : UUID.randomUUID().toString());
    }
}
