package dev.gatun.collectives;

import java.util.List;

/**
 * Some ranks did not arrive at a call within the communicator's timeout; {@link #missingRanks()} names them.
 */
public final class CollectiveTimeoutException extends CollectiveException {
    /** See {@link CollectiveException#CollectiveException}. */
    public CollectiveTimeoutException(String message, Throwable cause, String communicator, int rank,
                                      long sequence, OpSignature call, List<Integer> arrivedRanks,
                                      List<Integer> missingRanks) {
        super(message, cause, communicator, rank, sequence, call, arrivedRanks, missingRanks);
    }
}
