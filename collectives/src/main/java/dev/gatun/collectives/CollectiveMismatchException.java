package dev.gatun.collectives;

import java.util.List;

/**
 * The ranks arrived at the same call with different signatures (operation, dtype, count, root or reduce op; or a
 * send and a recv of different dtype or count); the message marks the ranks that differ.
 */
public final class CollectiveMismatchException extends CollectiveException {
    /** See {@link CollectiveException#CollectiveException}. */
    public CollectiveMismatchException(String message, Throwable cause, String communicator, int rank,
                                       long sequence, OpSignature call, List<Integer> arrivedRanks,
                                       List<Integer> missingRanks) {
        super(message, cause, communicator, rank, sequence, call, arrivedRanks, missingRanks);
    }
}
