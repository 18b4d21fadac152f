package dev.gatun.bindings;

import java.util.List;

/**
 * The native libraries Gatun binds, each with the versioned sonames it accepts (newest first), the symbol used to
 * find where the OS loader put it, and the names of its override ({@code -Dgatun.library.<key>=PATH} or
 * {@code GATUN_LIBRARY_<KEY>=PATH}, a file or a directory holding one of the sonames).
 */
public enum NativeLibrary {
    /** The CUDA runtime (libcudart). */
    CUDART("cudart", "CUDA runtime", "cudaGetErrorName", "libcudart.so.13", "libcudart.so.12"),
    /** The CUDA driver API (libcuda), installed with the GPU driver. */
    CUDA_DRIVER("cuda", "CUDA driver", "cuGetErrorName", "libcuda.so.1"),
    /** cuBLAS. */
    CUBLAS("cublas", "cuBLAS", "cublasGetStatusName", "libcublas.so.13", "libcublas.so.12"),
    /** NCCL. */
    NCCL("nccl", "NCCL", "ncclGetErrorString", "libnccl.so.2"),
    /** NVRTC, the runtime CUDA C++ compiler. */
    NVRTC("nvrtc", "NVRTC", "nvrtcGetErrorString", "libnvrtc.so.13", "libnvrtc.so.12"),
    /** MPI: Open MPI 4.x and 5.x ({@code libmpi.so.40}); other implementations are refused by {@link Mpi}. */
    MPI("mpi", "MPI", "MPI_Get_library_version", "libmpi.so.40");

    private final String key;
    private final String displayName;
    private final String probeSymbol;
    private final List<String> sonames;

    NativeLibrary(String key, String displayName, String probeSymbol, String... sonames) {
        this.key = key;
        this.displayName = displayName;
        this.probeSymbol = probeSymbol;
        this.sonames = List.of(sonames);
    }

    /** Short lower-case key, as in the override property {@code gatun.library.<key>}. */
    public String key() {
        return key;
    }

    /** Human-readable name. */
    public String displayName() {
        return displayName;
    }

    /** Accepted sonames, preferred first. */
    public List<String> sonames() {
        return sonames;
    }

    /** A symbol every accepted version exports; used to locate the loaded file. */
    String probeSymbol() {
        return probeSymbol;
    }

    /** System property that overrides the search. */
    public String overrideProperty() {
        return "gatun.library." + key;
    }

    /** Environment variable that overrides the search (after the system property). */
    public String overrideEnvironmentVariable() {
        return "GATUN_LIBRARY_" + key.toUpperCase(java.util.Locale.ROOT);
    }
}
