package dev.gatun.bindings;

/** A cuBLAS (cublasStatus_t) call failed; see {@link GpuException}. */
public final class CublasException extends GpuException {
    private static final long serialVersionUID = 1L;

    CublasException(String function, int code, String codeName, String libraryMessage, String detail) {
        super(function, code, codeName, libraryMessage, detail);
    }
}
