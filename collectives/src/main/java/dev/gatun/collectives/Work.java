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

    /** Whether the call has completed, successfully or not (never blocks). */
    boolean isDone();
}
