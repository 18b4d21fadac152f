package dev.gatun.bindings;

/** A NCCL (ncclResult_t) call failed; see {@link GpuException}. */
public final class NcclException extends GpuException {
    private static final long serialVersionUID = 1L;

    NcclException(String function, int code, String codeName, String libraryMessage, String detail) {
        super(function, code, codeName, libraryMessage, detail);
    }
}
