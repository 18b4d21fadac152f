package dev.gatun.collectives;

import java.util.List;

/**
 * Why a communicator (in-process) stopped: the first failure of any of its waits, shared by all its ranks. Each rank
 * that was waiting, or calls later, throws its own {@link CollectiveException} built from it by {@link #raise}.
 *
 * @param summary what happened, naming the operation, sequence numbers and ranks (several lines)
 * @param cause   for {@link Kind#ABORTED}: the failure that aborted it, or {@code null}
 */
record Failure(Kind kind, String summary, List<Integer> arrived, List<Integer> missing, Throwable cause) {
    /** The recent calls a failure message ends with. */
    static final int CALLS_SHOWN = 16;

    enum Kind { TIMEOUT, MISMATCH, ABORTED }

    static Failure aborted(String summary, Throwable cause) {
        return new Failure(Kind.ABORTED, summary, List.of(), List.of(), cause);
    }

    /**
     * The exception rank {@code rank} throws from call {@code seq}.
     *
     * @param earlier whether the communicator had failed before the call was made (the call then is aborted)
     */
    CollectiveException raise(String communicator, int rank, long seq, OpSignature call, CallLog log,
                              boolean earlier) {
        String message = (earlier ? "'" + communicator + "' failed before this call and cannot be used: " : "")
                + summary
                + "\nthis rank: " + rank + " of '" + communicator + "', in call #" + seq + " " + call
                + "\nrecent calls on rank " + rank + " of '" + communicator + "', oldest first:\n"
                + log.dump(CALLS_SHOWN);
        if (earlier) {
            return new CollectiveAbortedException(message, cause, communicator, rank, seq, call, arrived, missing);
        }
        return switch (kind) {
            case TIMEOUT -> new CollectiveTimeoutException(message, cause, communicator, rank, seq, call, arrived,
                    missing);
            case MISMATCH -> new CollectiveMismatchException(message, cause, communicator, rank, seq, call, arrived,
                    missing);
            case ABORTED -> new CollectiveAbortedException(message, cause, communicator, rank, seq, call, arrived,
                    missing);
        };
    }
}
