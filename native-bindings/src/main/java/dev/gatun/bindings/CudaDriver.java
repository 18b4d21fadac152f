package dev.gatun.bindings;

import dev.gatun.bindings.raw.cuda.cuda_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Status-checked facade over the CUDA driver API ({@code libcuda}), used for what the runtime does not offer:
 * device names without a context, loading compiled modules and launching their kernels. Errors throw
 * {@link CuDriverException}. The driver is initialised ({@code cuInit}) on first use.
 */
public final class CudaDriver {
    private static final StatusNames NAMES = new StatusNames(cuda_h.class, "CUresult",
            n -> n.equals("CUDA_SUCCESS") || n.startsWith("CUDA_ERROR_"));

    private CudaDriver() {
    }

    private static final class Init {
        static final int STATUS = NativeLibraries.isLoaded(NativeLibrary.CUDA_DRIVER) ? cuda_h.cuInit(0) : -1;
    }

    /** Whether the driver is installed and initialises. */
    public static boolean isAvailable() {
        return Init.STATUS == cuda_h.CUDA_SUCCESS();
    }

    /** Why the driver is not usable, or "" when it is. */
    public static String unavailableReason() {
        if (!NativeLibraries.isLoaded(NativeLibrary.CUDA_DRIVER)) {
            return NativeLibraries.failure(NativeLibrary.CUDA_DRIVER).orElseThrow().getMessage();
        }
        return isAvailable() ? "" : exception("cuInit", Init.STATUS).getMessage();
    }

    private static void ensureInitialised() {
        NativeLibraries.require(NativeLibrary.CUDA_DRIVER);
        check(Init.STATUS, "cuInit");
    }

    static void check(int status, String function) {
        if (status != cuda_h.CUDA_SUCCESS()) {
            throw exception(function, status);
        }
    }

    static CuDriverException exception(String function, int status) {
        return new CuDriverException(function, status, errorName(status), errorString(status), null);
    }

    /** The driver's name for a status ({@code cuGetErrorName}), or the bindings' when it is not loaded. */
    public static String errorName(int status) {
        return describe(status, true);
    }

    /** The driver's description of a status ({@code cuGetErrorString}). */
    public static String errorString(int status) {
        return describe(status, false);
    }

    private static String describe(int status, boolean name) {
        if (NativeLibraries.isLoaded(NativeLibrary.CUDA_DRIVER)) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment p = arena.allocate(ValueLayout.ADDRESS);
                int s = name ? cuda_h.cuGetErrorName(status, p) : cuda_h.cuGetErrorString(status, p);
                MemorySegment str = p.get(ValueLayout.ADDRESS, 0);
                if (s == cuda_h.CUDA_SUCCESS() && !str.equals(MemorySegment.NULL)) {
                    return str.reinterpret(Long.MAX_VALUE).getString(0);
                }
            }
        }
        return name ? NAMES.name(status) : "no description: the CUDA driver is not loaded or does not know this code";
    }

    /** The CUDA version the driver supports, e.g. 13000. */
    public static int driverVersion() {
        NativeLibraries.require(NativeLibrary.CUDA_DRIVER);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check(cuda_h.cuDriverGetVersion(v), "cuDriverGetVersion");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** Number of devices the driver sees. */
    public static int deviceCount() {
        ensureInitialised();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check(cuda_h.cuDeviceGetCount(v), "cuDeviceGetCount");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** The driver's handle of device {@code ordinal}. */
    public static int device(int ordinal) {
        ensureInitialised();
        int count = deviceCount();
        if (ordinal < 0 || ordinal >= count) {
            throw new IllegalArgumentException("CUDA device " + ordinal + " does not exist: the driver sees " + count);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment d = arena.allocate(ValueLayout.JAVA_INT);
            check(cuda_h.cuDeviceGet(d, ordinal), "cuDeviceGet");
            return d.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** The device's marketing name, e.g. "NVIDIA H100 80GB HBM3". */
    public static String deviceName(int device) {
        ensureInitialised();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(256);
            check(cuda_h.cuDeviceGetName(buf, 256, device), "cuDeviceGetName");
            return buf.getString(0);
        }
    }

    /** The device's total memory in bytes, without creating a context. */
    public static long deviceTotalMemory(int device) {
        ensureInitialised();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_LONG);
            check(cuda_h.cuDeviceTotalMem_v2(v, device), "cuDeviceTotalMem_v2");
            return v.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    /** Retains the device's primary context (the one the runtime uses) and returns it. */
    public static MemorySegment primaryContextRetain(int device) {
        ensureInitialised();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = arena.allocate(ValueLayout.ADDRESS);
            check(cuda_h.cuDevicePrimaryCtxRetain(c, device), "cuDevicePrimaryCtxRetain");
            return c.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Releases a retain of the device's primary context. */
    public static void primaryContextRelease(int device) {
        ensureInitialised();
        check(cuda_h.cuDevicePrimaryCtxRelease_v2(device), "cuDevicePrimaryCtxRelease_v2");
    }

    /** Binds a context to the calling thread. */
    public static void setCurrentContext(MemorySegment context) {
        ensureInitialised();
        check(cuda_h.cuCtxSetCurrent(Arguments.pointer(context, "context")), "cuCtxSetCurrent");
    }

    /** The calling thread's current context, {@code NULL} when none. */
    public static MemorySegment currentContext() {
        ensureInitialised();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = arena.allocate(ValueLayout.ADDRESS);
            check(cuda_h.cuCtxGetCurrent(c), "cuCtxGetCurrent");
            return c.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Loads a module from a CUBIN, fatbin or NUL-terminated PTX image into the current context. */
    public static MemorySegment moduleLoadData(byte[] image) {
        if (image == null || image.length == 0) {
            throw new IllegalArgumentException("module image must hold a CUBIN or PTX, got "
                    + (image == null ? "null" : "0 bytes"));
        }
        ensureInitialised();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(ValueLayout.ADDRESS);
            MemorySegment data = arena.allocate(image.length + 1L, 16);
            MemorySegment.copy(image, 0, data, ValueLayout.JAVA_BYTE, 0, image.length);
            check(cuda_h.cuModuleLoadData(m, data), "cuModuleLoadData");
            return m.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** A kernel of a loaded module, by its (unmangled, {@code extern "C"}) name. */
    public static MemorySegment moduleGetFunction(MemorySegment module, String name) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("kernel name must not be empty");
        }
        ensureInitialised();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment f = arena.allocate(ValueLayout.ADDRESS);
            int status = cuda_h.cuModuleGetFunction(f, Arguments.handle(module, "module"), arena.allocateFrom(name));
            if (status != cuda_h.CUDA_SUCCESS()) {
                throw new CuDriverException("cuModuleGetFunction", status, errorName(status), errorString(status),
                        "kernel '" + name + "' (is it declared extern \"C\"?)");
            }
            return f.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Unloads a module. */
    public static void moduleUnload(MemorySegment module) {
        ensureInitialised();
        check(cuda_h.cuModuleUnload(Arguments.handle(module, "module")), "cuModuleUnload");
    }

    /** Sets a kernel attribute, e.g. the dynamic shared memory it may use. */
    public static void setMaxDynamicSharedMemory(MemorySegment function, int bytes) {
        Arguments.nonNegative(bytes, "dynamic shared memory bytes");
        ensureInitialised();
        check(cuda_h.cuFuncSetAttribute(Arguments.handle(function, "kernel"),
                cuda_h.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES(), bytes), "cuFuncSetAttribute");
    }

    /**
     * Launches a kernel ({@code cuLaunchKernel}). {@code kernelParams} is an array of pointers, one per kernel
     * argument, each pointing at the argument's value (see {@link KernelArguments}).
     */
    public static void launchKernel(MemorySegment function, int gridX, int gridY, int gridZ,
                                    int blockX, int blockY, int blockZ, int sharedMemBytes,
                                    MemorySegment stream, MemorySegment kernelParams) {
        if (gridX <= 0 || gridY <= 0 || gridZ <= 0 || blockX <= 0 || blockY <= 0 || blockZ <= 0) {
            throw new IllegalArgumentException("grid and block dimensions must be > 0, got grid (" + gridX + ", "
                    + gridY + ", " + gridZ + ") block (" + blockX + ", " + blockY + ", " + blockZ + ")");
        }
        Arguments.nonNegative(sharedMemBytes, "shared memory bytes");
        ensureInitialised();
        check(cuda_h.cuLaunchKernel(Arguments.handle(function, "kernel"), gridX, gridY, gridZ, blockX, blockY, blockZ,
                sharedMemBytes, Arguments.stream(stream), Arguments.pointer(kernelParams, "kernel parameters"),
                MemorySegment.NULL), "cuLaunchKernel");
    }

    /**
     * Sets {@code count} 16-bit words at {@code deviceAddress} to {@code pattern}, in order on {@code stream}
     * ({@code cuMemsetD16Async}); the address must be 2-byte aligned.
     */
    public static void memsetD16Async(long deviceAddress, short pattern, long count, MemorySegment stream) {
        checkMemset(deviceAddress, 2, count);
        ensureInitialised();
        check(cuda_h.cuMemsetD16Async(deviceAddress, pattern, count, Arguments.stream(stream)), "cuMemsetD16Async");
    }

    /**
     * Sets {@code count} 32-bit words at {@code deviceAddress} to {@code pattern}, in order on {@code stream}
     * ({@code cuMemsetD32Async}); the address must be 4-byte aligned.
     */
    public static void memsetD32Async(long deviceAddress, int pattern, long count, MemorySegment stream) {
        checkMemset(deviceAddress, 4, count);
        ensureInitialised();
        check(cuda_h.cuMemsetD32Async(deviceAddress, pattern, count, Arguments.stream(stream)), "cuMemsetD32Async");
    }

    /**
     * Sets one 32-bit word in each of {@code rows} rows spaced {@code pitchBytes} apart, starting at
     * {@code deviceAddress}, to {@code pattern} ({@code cuMemsetD2D32Async} with width 1): the strided fill that writes
     * one half of every 64-bit element when {@code pitchBytes} is 8.
     */
    public static void memsetStrided32Async(long deviceAddress, long pitchBytes, int pattern, long rows,
                                            MemorySegment stream) {
        checkMemset(deviceAddress, 4, rows);
        if (pitchBytes < 4 || pitchBytes % 4 != 0) {
            throw new IllegalArgumentException("pitch must be a positive multiple of 4 bytes, got " + pitchBytes);
        }
        ensureInitialised();
        check(cuda_h.cuMemsetD2D32Async(deviceAddress, pitchBytes, pattern, 1, rows, Arguments.stream(stream)),
                "cuMemsetD2D32Async");
    }

    private static void checkMemset(long deviceAddress, int alignment, long count) {
        if (deviceAddress == 0) {
            throw new IllegalArgumentException("device address must not be null");
        }
        if (deviceAddress % alignment != 0) {
            throw new IllegalArgumentException("device address 0x" + Long.toHexString(deviceAddress)
                    + " is not " + alignment + "-byte aligned");
        }
        Arguments.nonNegative(count, "element count");
    }
}
