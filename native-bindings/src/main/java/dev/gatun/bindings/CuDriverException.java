package dev.gatun.bindings;

/** A CUDA driver API (CUresult) call failed; see {@link GpuException}. */
public final class CuDriverException extends GpuException {
    private static final long serialVersionUID = 1L;

    CuDriverException(String function, int code, String codeName, String libraryMessage, String detail) {
        super(function, code, codeName, libraryMessage, detail);
    }
}
