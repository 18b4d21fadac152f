package dev.gatun.bindings;

/** A CUDA runtime (cudaError_t) call failed; see {@link GpuException}. */
public final class CudaException extends GpuException {
    private static final long serialVersionUID = 1L;

    CudaException(String function, int code, String codeName, String libraryMessage, String detail) {
        super(function, code, codeName, libraryMessage, detail);
    }
}
