package dev.gatun.collectives;

import java.util.List;

/**
 * A communication call that failed on this rank: its peers did not arrive in time
 * ({@link CollectiveTimeoutException}), arrived with a different call ({@link CollectiveMismatchException}), or the
 * world was aborted ({@link CollectiveAbortedException}). The message names the communicator, the operation and its
 * sequence number, the ranks that had and had not arrived, and ends with this rank's recent calls. The communicator
 * it came from is unusable afterwards.
 */
public abstract sealed class CollectiveException extends RuntimeException
        permits CollectiveTimeoutException, CollectiveMismatchException, CollectiveAbortedException {
    private final String communicator;
    private final int rank;
    private final long sequence;
    private final OpSignature call;
    private final List<Integer> arrivedRanks;
    private final List<Integer> missingRanks;

    /**
     * @param communicator the communicator's name
     * @param rank         the rank that throws, in that communicator
     * @param sequence     the sequence number of the call that failed on this rank
     * @param call         that call
     * @param arrivedRanks the ranks that had arrived at the failed wait
     * @param missingRanks the ranks that had not
     */
    protected CollectiveException(String message, Throwable cause, String communicator, int rank, long sequence,
                                  OpSignature call, List<Integer> arrivedRanks, List<Integer> missingRanks) {
        super(message, cause);
        this.communicator = communicator;
        this.rank = rank;
        this.sequence = sequence;
        this.call = call;
        this.arrivedRanks = List.copyOf(arrivedRanks);
        this.missingRanks = List.copyOf(missingRanks);
    }

    /** The name of the communicator the call was made on. */
    public String communicator() {
        return communicator;
    }

    /** The rank (in that communicator) that threw. */
    public int rank() {
        return rank;
    }

    /** The sequence number of the failed call on this rank. */
    public long sequence() {
        return sequence;
    }

    /** The failed call on this rank. */
    public OpSignature call() {
        return call;
    }

    /** The ranks that had arrived at the wait that failed. */
    public List<Integer> arrivedRanks() {
        return arrivedRanks;
    }

    /** The ranks that had not arrived at the wait that failed. */
    public List<Integer> missingRanks() {
        return missingRanks;
    }
}
