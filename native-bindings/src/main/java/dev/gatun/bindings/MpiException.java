package dev.gatun.bindings;

/**
 * An MPI call failed: the function, MPI's error code and its message, in one line, e.g.
 * {@code MPI_Comm_split failed (5): invalid communicator}.
 */
public final class MpiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String function;
    private final int code;

    MpiException(String function, int code, String message) {
        super(function + " failed (" + code + "): " + message);
        this.function = function;
        this.code = code;
    }

    /** The MPI function that failed. */
    public String function() {
        return function;
    }

    /** MPI's error code (0 where the failure is Gatun's own check of what MPI gave). */
    public int code() {
        return code;
    }
}
