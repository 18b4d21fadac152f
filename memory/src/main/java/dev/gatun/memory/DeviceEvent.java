package dev.gatun.memory;

/**
 * A point in a {@link DeviceStream}'s work, recorded with {@link DeviceStream#record()}: another stream can wait for
 * it without blocking the host, the host can poll or wait for it, and two events give the time between them.
 */
public interface DeviceEvent extends AutoCloseable {
    /** Whether all work before the event has completed (never blocks). */
    boolean isComplete();

    /** Blocks the host until the event has completed. */
    void synchronize();

    /** Milliseconds from {@code start} to this event; both must have completed. */
    float elapsedMillisSince(DeviceEvent start);

    /** Releases the event. */
    @Override
    void close();
}
