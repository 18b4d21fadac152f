package dev.gatun.collectives;

/**
 * A handle on an asynchronous call ({@link Communicator#submit} and the {@code …Async} methods), like NCCL work
 * enqueued on a stream or PyTorch's {@code Work}: the caller computes while the communication runs, then waits.
 */
public interface Work {
    /**
     * Blocks until the call has completed, after which its outputs may be read. Never waits forever: the call
     * itself fails after the communicator's timeout.
     *
     * @throws CollectiveException the call's failure (timeout, mismatch, abort), as the call would have thrown it
     */
    void await();

    /**
     * Makes the communicator's stream wait for the call, without blocking the host where the backend orders work on
     * device streams (NCCL: a {@code cudaStreamWaitEvent} on the call's event, as PyTorch's {@code Work.wait()}):
     * work enqueued on that stream afterwards, and memory freed to a stream-ordered allocator, see the call's
     * results. Where calls complete on the host (the in-process backend) it is {@link #await()}. A failure of the call
     * is thrown here if already known, else by a later call of the communicator.
     */
    default void waitOnStream() {
        await();
    }

    /** Whether the call has completed, successfully or not (never blocks). */
    boolean isDone();
}
