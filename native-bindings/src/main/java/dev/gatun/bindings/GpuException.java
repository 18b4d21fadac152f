package dev.gatun.bindings;

/**
 * A native GPU library call returned an error status. Carries the function that failed, the numeric status, its
 * symbolic name and the library's own message, so the one line says what happened:
 * {@code cudaMalloc failed: cudaErrorMemoryAllocation (2): out of memory}.
 */
public abstract sealed class GpuException extends RuntimeException
        permits CudaException, CuDriverException, CublasException, NcclException, NvrtcException {
    private static final long serialVersionUID = 1L;

    private final String function;
    private final int code;
    private final String codeName;
    private final String libraryMessage;

    GpuException(String function, int code, String codeName, String libraryMessage, String detail) {
        super(function + " failed: " + codeName + " (" + code + "): " + libraryMessage
                + (detail == null || detail.isEmpty() ? "" : "\n" + detail));
        this.function = function;
        this.code = code;
        this.codeName = codeName;
        this.libraryMessage = libraryMessage;
    }

    /** The native function that returned the status, e.g. {@code cudaMalloc}. */
    public String function() {
        return function;
    }

    /** The numeric status the function returned. */
    public int code() {
        return code;
    }

    /** The status's symbolic name, e.g. {@code cudaErrorMemoryAllocation}. */
    public String codeName() {
        return codeName;
    }

    /** The library's description of the status. */
    public String libraryMessage() {
        return libraryMessage;
    }
}
