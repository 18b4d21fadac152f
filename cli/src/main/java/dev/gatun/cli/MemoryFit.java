package dev.gatun.cli;

import java.util.Optional;

/** A run's memory against the limit it runs under: the header line, and a refusal with what to change. */
interface MemoryFit {
    /** Whether the estimate is within the limit. */
    boolean fits();

    /** The header line: the estimate and the limit. */
    String describe();

    /** The refusal when the run does not fit, saying what to change; empty when it fits. */
    Optional<String> refusal();
}
