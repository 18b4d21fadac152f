package dev.gatun.collectives.launch;

import java.time.Duration;
import java.util.List;

/**
 * A rendezvous-store wait ran out of time: the keys it waited for were not all set, the server did not answer, or it
 * could not be reached. The message names the keys (or the address) and the time waited.
 */
public final class RendezvousTimeoutException extends RendezvousException {
    private final List<String> missingKeys;
    private final Duration elapsed;

    /**
     * @param missingKeys the keys still missing when the wait gave up; empty when no key was involved
     * @param elapsed     how long the caller waited
     */
    public RendezvousTimeoutException(String message, List<String> missingKeys, Duration elapsed) {
        super(message);
        this.missingKeys = List.copyOf(missingKeys);
        this.elapsed = elapsed;
    }

    /** The keys that were still missing; empty when the server or its reply was what did not come. */
    public List<String> missingKeys() {
        return missingKeys;
    }

    /** How long the caller waited before giving up. */
    public Duration elapsed() {
        return elapsed;
    }
}
