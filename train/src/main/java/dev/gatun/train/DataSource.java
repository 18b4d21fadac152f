package dev.gatun.train;

/**
 * The caller's data: the global batch of each step. The engine asks every rank's thread or process for the same
 * step, so a source must give the same batch for the same step wherever it is asked (a deterministic function of the
 * step, e.g. seeded by it), with {@link TrainOptions#batchExamples()} examples.
 */
@FunctionalInterface
public interface DataSource {
    /** The global batch of step {@code step} (0-based). */
    Batch batch(long step);
}
