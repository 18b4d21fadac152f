package dev.gatun.bindings;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntSupplier;
import java.util.function.IntFunction;

/**
 * What this machine offers Gatun: each native library (where it was loaded from and its version, or why it could
 * not be), and the CUDA devices (or why there are none). Probing never throws: every failure becomes text.
 *
 * @param libraries       one entry per {@link NativeLibrary}, in declaration order
 * @param devices         the CUDA devices, empty when there are none
 * @param noDeviceReason  why there is no usable CUDA device, "" when there is
 */
public record NativeInventory(List<LibraryStatus> libraries, List<DeviceInfo> devices, String noDeviceReason) {

    /**
     * One library's state.
     *
     * @param library the library
     * @param loaded  where it was loaded from, or null
     * @param version its version as text, or "" when unknown
     * @param problem why it could not be loaded or queried, "" when all is well
     */
    public record LibraryStatus(NativeLibrary library, LoadedLibrary loaded, String version, String problem) {
    }

    /**
     * One CUDA device.
     *
     * @param ordinal             the runtime's device number
     * @param name                the driver's name for it
     * @param totalMemoryBytes    its memory
     * @param computeCapability   e.g. "9.0"
     * @param multiprocessors     number of SMs
     */
    public record DeviceInfo(int ordinal, String name, long totalMemoryBytes, String computeCapability,
                             int multiprocessors) {
    }

    /** Probes the libraries and devices of this process. */
    public static NativeInventory probe() {
        List<LibraryStatus> libraries = new ArrayList<>();
        for (NativeLibrary library : NativeLibrary.values()) {
            libraries.add(status(library));
        }
        List<DeviceInfo> devices = new ArrayList<>();
        String reason = Cuda.unavailableReason();
        for (int i = 0; i < Cuda.deviceCount(); i++) {
            try {
                devices.add(device(i));
            } catch (RuntimeException e) {
                reason = "device " + i + ": " + e.getMessage();
            }
        }
        return new NativeInventory(List.copyOf(libraries), List.copyOf(devices), reason);
    }

    private static DeviceInfo device(int ordinal) {
        String name = CudaDriver.isAvailable() ? CudaDriver.deviceName(CudaDriver.device(ordinal)) : "(driver API unavailable)";
        long memory = CudaDriver.isAvailable() ? CudaDriver.deviceTotalMemory(CudaDriver.device(ordinal)) : 0;
        return new DeviceInfo(ordinal, name, memory,
                Cuda.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR, ordinal) + "."
                        + Cuda.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MINOR, ordinal),
                Cuda.deviceAttribute(DeviceAttribute.MULTIPROCESSOR_COUNT, ordinal));
    }

    private static LibraryStatus status(NativeLibrary library) {
        var failure = NativeLibraries.failure(library);
        if (failure.isPresent()) {
            return new LibraryStatus(library, null, "", failure.get().getMessage());
        }
        LoadedLibrary loaded = NativeLibraries.require(library);
        try {
            return new LibraryStatus(library, loaded, version(library), "");
        } catch (RuntimeException e) {
            return new LibraryStatus(library, loaded, "", e.getMessage());
        }
    }

    private static String version(NativeLibrary library) {
        IntFunction<String> cudaStyle = v -> v / 1000 + "." + (v % 1000) / 10;
        return switch (library) {
            case CUDART -> cudaStyle.apply(Cuda.runtimeVersion()) + driverSupport(Cuda::driverVersion, cudaStyle);
            case CUDA_DRIVER -> "supports CUDA " + cudaStyle.apply(CudaDriver.driverVersion());
            case CUBLAS -> {
                int v = Cublas.version();
                yield v / 10000 + "." + (v % 10000) / 100 + "." + v % 100;
            }
            case NCCL -> Nccl.versionString(Nccl.version());
            case NVRTC -> cudaStyle.apply(Nvrtc.version());
            case MPI -> Mpi.libraryVersion().lines().findFirst().orElse("").replaceFirst(",.*", "");
        };
    }

    private static String driverSupport(IntSupplier driverVersion, IntFunction<String> format) {
        int v = driverVersion.getAsInt();
        return v == 0 ? " (no CUDA driver installed)" : " (driver supports CUDA " + format.apply(v) + ")";
    }
}
