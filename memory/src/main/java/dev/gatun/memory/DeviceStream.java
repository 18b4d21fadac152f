package dev.gatun.memory;

/**
 * An ordered queue of work on one device (compute, communication, copies). Work on one stream runs in order;
 * ordering across streams goes through events: {@code comm.waitFor(compute.record())} makes later communication
 * wait for the compute enqueued so far, without blocking the host. On the CPU work runs on the calling thread, so
 * every stream operation is complete at once and the same code runs on both.
 */
public interface DeviceStream extends AutoCloseable {
    /** The device the stream belongs to. */
    Device device();

    /** Records an event at the current end of the stream's work. */
    DeviceEvent record();

    /** Makes work enqueued later on this stream wait until {@code event} has completed (never blocks the host). */
    void waitFor(DeviceEvent event);

    /** Blocks the host until the stream's work is done. */
    void synchronize();

    /** Releases the stream. */
    @Override
    void close();

    /** A CPU stream: all work is done when the call that enqueued it returns. */
    static DeviceStream cpu() {
        return new CpuStream();
    }
}
