package dev.gatun.bindings;

/** An NVRTC (nvrtcResult) call failed; see {@link GpuException}. A failed compilation carries the compiler's log. */
public final class NvrtcException extends GpuException {
    private static final long serialVersionUID = 1L;

    private final String log;

    NvrtcException(String function, int code, String codeName, String libraryMessage, String log) {
        super(function, code, codeName, libraryMessage, log);
        this.log = log == null ? "" : log;
    }

    /** The compiler's log, empty when the failure was not a compilation. */
    public String log() {
        return log;
    }
}
