package dev.gatun.gpt.train;

import dev.gatun.gpt.checkpoint.CheckpointDirectory;

import java.util.Objects;

/**
 * When a run saves and whether it resumes: every {@code saveEvery} steps (0: never) each rank writes its state into
 * {@code directory}; with {@code resume} the run starts from the directory's newest verified checkpoint, if any.
 * Everything else a step depends on follows from the step number (the batch, the learning rate) or from the seed.
 */
public record Checkpointing(CheckpointDirectory directory, long saveEvery, boolean resume) {
    public Checkpointing {
        Objects.requireNonNull(directory, "directory must not be null");
        if (saveEvery < 0) {
            throw new IllegalArgumentException("--save-every must be >= 0, got " + saveEvery);
        }
    }
}
