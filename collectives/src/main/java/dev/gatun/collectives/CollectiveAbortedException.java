package dev.gatun.collectives;

import java.util.List;

/**
 * The call could not complete because the world was aborted (another rank failed: the cause is its failure), the
 * rank was interrupted, or the communicator had already failed.
 */
public final class CollectiveAbortedException extends CollectiveException {
    /** See {@link CollectiveException#CollectiveException}. */
    public CollectiveAbortedException(String message, Throwable cause, String communicator, int rank,
                                      long sequence, OpSignature call, List<Integer> arrivedRanks,
                                      List<Integer> missingRanks) {
        super(message, cause, communicator, rank, sequence, call, arrivedRanks, missingRanks);
    }
}
