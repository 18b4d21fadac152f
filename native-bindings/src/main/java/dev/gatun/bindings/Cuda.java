package dev.gatun.bindings;

import dev.gatun.bindings.raw.cudart.cudaPointerAttributes;
import dev.gatun.bindings.raw.cudart.cuda_runtime_api_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Status-checked facade over the CUDA runtime ({@code libcudart}). Every call checks its status and throws
 * {@link CudaException} with the function, the code, its name and the runtime's message; arguments are validated
 * before the native call. Device pointers are returned as zero-length segments: they are addresses, never
 * dereferenced on the host.
 *
 * <p>"No GPU" is a normal state: on a machine with the runtime but no driver or no device, {@link #isAvailable()} is
 * false and {@link #unavailableReason()} says why; nothing throws until a device is actually asked for.
 */
public final class Cuda {
    private static final StatusNames NAMES = new StatusNames(cuda_runtime_api_h.class, "cudaError",
            n -> n.equals("cudaSuccess") || n.startsWith("cudaError"));

    private Cuda() {
    }

    private record Availability(int deviceCount, String reason) {
    }

    private static final class AvailabilityHolder {
        static final Availability VALUE = probe();

        private static Availability probe() {
            if (!NativeLibraries.isLoaded(NativeLibrary.CUDART)) {
                return new Availability(0, NativeLibraries.failure(NativeLibrary.CUDART).orElseThrow().getMessage());
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment count = arena.allocate(ValueLayout.JAVA_INT);
                int status = cuda_runtime_api_h.cudaGetDeviceCount(count);
                if (status != cuda_runtime_api_h.cudaSuccess()) {
                    cuda_runtime_api_h.cudaGetLastError(); // clear it, so that later calls start clean
                    if (status == cuda_runtime_api_h.cudaErrorInsufficientDriver()
                            && NativeLibraries.failure(NativeLibrary.CUDA_DRIVER).isPresent()) {
                        // the runtime says "insufficient" when there is no driver at all: say the true reason
                        return new Availability(0, "no CUDA driver installed ("
                                + NativeLibrary.CUDA_DRIVER.sonames().getFirst() + " cannot be loaded)");
                    }
                    return new Availability(0, exception("cudaGetDeviceCount", status).getMessage());
                }
                int n = count.get(ValueLayout.JAVA_INT, 0);
                return new Availability(n, n == 0 ? "no CUDA device" : "");
            }
        }
    }

    /** Whether the runtime is loaded and at least one CUDA device is usable. */
    public static boolean isAvailable() {
        return AvailabilityHolder.VALUE.deviceCount > 0;
    }

    /** Why CUDA is not available (the loader's or the runtime's message), or "" when it is. */
    public static String unavailableReason() {
        return AvailabilityHolder.VALUE.reason;
    }

    /** Number of CUDA devices; 0 when CUDA is not available. */
    public static int deviceCount() {
        return AvailabilityHolder.VALUE.deviceCount;
    }

    /** Loads the runtime (once) or throws {@link LibraryNotFoundException}. */
    static void ensureLoaded() {
        NativeLibraries.require(NativeLibrary.CUDART);
    }

    /** Throws {@link CudaException} for a non-success status. */
    static void check(int status, String function) {
        if (status != cuda_runtime_api_h.cudaSuccess()) {
            throw exception(function, status);
        }
    }

    /** The exception for a status, named and described by the runtime when it is loaded. */
    static CudaException exception(String function, int status) {
        return new CudaException(function, status, errorName(status), errorString(status), null);
    }

    /** The runtime's name for a status ({@code cudaGetErrorName}), or the bindings' when it is not loaded. */
    public static String errorName(int status) {
        if (NativeLibraries.isLoaded(NativeLibrary.CUDART)) {
            return cuda_runtime_api_h.cudaGetErrorName(status).getString(0);
        }
        return NAMES.name(status);
    }

    /** The runtime's description of a status ({@code cudaGetErrorString}). */
    public static String errorString(int status) {
        if (NativeLibraries.isLoaded(NativeLibrary.CUDART)) {
            return cuda_runtime_api_h.cudaGetErrorString(status).getString(0);
        }
        return "no description: the CUDA runtime is not loaded";
    }

    /** The runtime version, e.g. 13000 for 13.0. */
    public static int runtimeVersion() {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check(cuda_runtime_api_h.cudaRuntimeGetVersion(v), "cudaRuntimeGetVersion");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** The latest CUDA version the installed driver supports, or 0 when no driver is installed. */
    public static int driverVersion() {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check(cuda_runtime_api_h.cudaDriverGetVersion(v), "cudaDriverGetVersion");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    private static void requireDevice(int device) {
        ensureLoaded();
        if (device < 0 || device >= deviceCount()) {
            throw new IllegalArgumentException("CUDA device " + device + " does not exist: this machine has "
                    + deviceCount() + " CUDA device(s)"
                    + (isAvailable() ? "" : " (" + unavailableReason().lines().findFirst().orElse("") + ")"));
        }
    }

    /** Makes {@code device} current for the calling thread ({@code cudaSetDevice}). */
    public static void setDevice(int device) {
        requireDevice(device);
        check(cuda_runtime_api_h.cudaSetDevice(device), "cudaSetDevice");
    }

    /** The calling thread's current device. */
    public static int getDevice() {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment d = arena.allocate(ValueLayout.JAVA_INT);
            check(cuda_runtime_api_h.cudaGetDevice(d), "cudaGetDevice");
            return d.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** One attribute of a device ({@code cudaDeviceGetAttribute}). */
    public static int deviceAttribute(DeviceAttribute attribute, int device) {
        requireDevice(device);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check(cuda_runtime_api_h.cudaDeviceGetAttribute(v, attribute.code, device), "cudaDeviceGetAttribute");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** The device's PCI bus id, e.g. {@code 0000:3b:00.0}. */
    public static String pciBusId(int device) {
        requireDevice(device);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(64);
            check(cuda_runtime_api_h.cudaDeviceGetPCIBusId(buf, 64, device), "cudaDeviceGetPCIBusId");
            return buf.getString(0);
        }
    }

    /** Free and total bytes of the current device. */
    public record MemoryInfo(long freeBytes, long totalBytes) {
    }

    /** Free and total memory of the current device ({@code cudaMemGetInfo}). */
    public static MemoryInfo memGetInfo() {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            check(cuda_runtime_api_h.cudaMemGetInfo(free, total), "cudaMemGetInfo");
            return new MemoryInfo(free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /** Allocates {@code bytes} of device memory on the current device; returns its address. */
    public static MemorySegment malloc(long bytes) {
        Arguments.positive(bytes, "cudaMalloc size");
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocate(ValueLayout.ADDRESS);
            check(cuda_runtime_api_h.cudaMalloc(p, bytes), "cudaMalloc");
            return p.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Frees device memory from {@link #malloc}. */
    public static void free(MemorySegment devicePointer) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaFree(Arguments.handle(devicePointer, "device pointer")), "cudaFree");
    }

    /** Allocates {@code bytes} of page-locked host memory; the returned segment is {@code bytes} long. */
    public static MemorySegment mallocHost(long bytes) {
        Arguments.positive(bytes, "cudaMallocHost size");
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocate(ValueLayout.ADDRESS);
            check(cuda_runtime_api_h.cudaMallocHost(p, bytes), "cudaMallocHost");
            return p.get(ValueLayout.ADDRESS, 0).reinterpret(bytes);
        }
    }

    /** Frees page-locked host memory from {@link #mallocHost}. */
    public static void freeHost(MemorySegment hostPointer) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaFreeHost(Arguments.handle(hostPointer, "pinned host pointer")), "cudaFreeHost");
    }

    private static void checkCopy(MemorySegment dst, MemorySegment src, long bytes, MemcpyKind kind) {
        Arguments.nonNegative(bytes, "memcpy byte count");
        if (kind.hostDestination) {
            Arguments.hostBuffer(dst, bytes, "memcpy destination");
        } else {
            Arguments.handle(dst, "memcpy destination");
        }
        if (kind.hostSource) {
            Arguments.hostBuffer(src, bytes, "memcpy source");
        } else {
            Arguments.handle(src, "memcpy source");
        }
    }

    /** Synchronous copy of {@code bytes} ({@code cudaMemcpy}). Host sides must be native segments that hold them. */
    public static void memcpy(MemorySegment dst, MemorySegment src, long bytes, MemcpyKind kind) {
        checkCopy(dst, src, bytes, kind);
        ensureLoaded();
        check(cuda_runtime_api_h.cudaMemcpy(dst, src, bytes, kind.code), "cudaMemcpy");
    }

    /** Copy of {@code bytes} ordered on {@code stream} ({@code cudaMemcpyAsync}). */
    public static void memcpyAsync(MemorySegment dst, MemorySegment src, long bytes, MemcpyKind kind,
                                   MemorySegment stream) {
        checkCopy(dst, src, bytes, kind);
        ensureLoaded();
        check(cuda_runtime_api_h.cudaMemcpyAsync(dst, src, bytes, kind.code, Arguments.stream(stream)),
                "cudaMemcpyAsync");
    }

    /** Sets {@code bytes} of device memory to the byte {@code value}, synchronously. */
    public static void memset(MemorySegment devicePointer, int value, long bytes) {
        Arguments.nonNegative(bytes, "memset byte count");
        ensureLoaded();
        check(cuda_runtime_api_h.cudaMemset(Arguments.handle(devicePointer, "device pointer"), value, bytes),
                "cudaMemset");
    }

    /** Sets {@code bytes} of device memory to the byte {@code value}, ordered on {@code stream}. */
    public static void memsetAsync(MemorySegment devicePointer, int value, long bytes, MemorySegment stream) {
        Arguments.nonNegative(bytes, "memset byte count");
        ensureLoaded();
        check(cuda_runtime_api_h.cudaMemsetAsync(Arguments.handle(devicePointer, "device pointer"), value, bytes,
                Arguments.stream(stream)), "cudaMemsetAsync");
    }

    /** Where a pointer's memory lives ({@code struct cudaPointerAttributes}). */
    public record PointerAttributes(int memoryType, int device, long devicePointer, long hostPointer) {
        /** Whether the pointer is device memory. */
        public boolean isDevice() {
            return memoryType == cuda_runtime_api_h.cudaMemoryTypeDevice();
        }

        /** Whether the pointer is page-locked host memory. */
        public boolean isHost() {
            return memoryType == cuda_runtime_api_h.cudaMemoryTypeHost();
        }
    }

    /** The attributes of a pointer ({@code cudaPointerGetAttributes}). */
    public static PointerAttributes pointerAttributes(MemorySegment pointer) {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = cudaPointerAttributes.allocate(arena);
            check(cuda_runtime_api_h.cudaPointerGetAttributes(a, Arguments.pointer(pointer, "pointer")),
                    "cudaPointerGetAttributes");
            return new PointerAttributes(cudaPointerAttributes.type(a), cudaPointerAttributes.device(a),
                    cudaPointerAttributes.devicePointer(a).address(), cudaPointerAttributes.hostPointer(a).address());
        }
    }

    /** Creates a stream; a non-blocking one does not synchronise with the legacy default stream. */
    public static MemorySegment streamCreate(boolean nonBlocking) {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(ValueLayout.ADDRESS);
            int flags = nonBlocking ? cuda_runtime_api_h.cudaStreamNonBlocking() : cuda_runtime_api_h.cudaStreamDefault();
            check(cuda_runtime_api_h.cudaStreamCreateWithFlags(s, flags), "cudaStreamCreateWithFlags");
            return s.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Destroys a stream. */
    public static void streamDestroy(MemorySegment stream) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaStreamDestroy(Arguments.handle(stream, "stream")), "cudaStreamDestroy");
    }

    /** Blocks the host until the stream's work is done. */
    public static void streamSynchronize(MemorySegment stream) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaStreamSynchronize(Arguments.stream(stream)), "cudaStreamSynchronize");
    }

    /** Whether all work on the stream is done, without blocking. */
    public static boolean streamQuery(MemorySegment stream) {
        ensureLoaded();
        return ready(cuda_runtime_api_h.cudaStreamQuery(Arguments.stream(stream)), "cudaStreamQuery");
    }

    /** Makes later work on {@code stream} wait for {@code event}, without blocking the host. */
    public static void streamWaitEvent(MemorySegment stream, MemorySegment event) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaStreamWaitEvent(Arguments.stream(stream), Arguments.handle(event, "event"), 0),
                "cudaStreamWaitEvent");
    }

    /** Creates an event; {@code timing=false} makes it cheaper when only ordering is needed. */
    public static MemorySegment eventCreate(boolean timing, boolean blockingSync) {
        ensureLoaded();
        int flags = (timing ? cuda_runtime_api_h.cudaEventDefault() : cuda_runtime_api_h.cudaEventDisableTiming())
                | (blockingSync ? cuda_runtime_api_h.cudaEventBlockingSync() : 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment e = arena.allocate(ValueLayout.ADDRESS);
            check(cuda_runtime_api_h.cudaEventCreateWithFlags(e, flags), "cudaEventCreateWithFlags");
            return e.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Records the event at the current end of the stream's work. */
    public static void eventRecord(MemorySegment event, MemorySegment stream) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaEventRecord(Arguments.handle(event, "event"), Arguments.stream(stream)),
                "cudaEventRecord");
    }

    /** Blocks the host until the event has completed. */
    public static void eventSynchronize(MemorySegment event) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaEventSynchronize(Arguments.handle(event, "event")), "cudaEventSynchronize");
    }

    /** Whether the event has completed, without blocking. */
    public static boolean eventQuery(MemorySegment event) {
        ensureLoaded();
        return ready(cuda_runtime_api_h.cudaEventQuery(Arguments.handle(event, "event")), "cudaEventQuery");
    }

    /** Milliseconds between two completed, timing-enabled events. */
    public static float eventElapsedMillis(MemorySegment start, MemorySegment end) {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ms = arena.allocate(ValueLayout.JAVA_FLOAT);
            check(cuda_runtime_api_h.cudaEventElapsedTime(ms, Arguments.handle(start, "start event"),
                    Arguments.handle(end, "end event")), "cudaEventElapsedTime");
            return ms.get(ValueLayout.JAVA_FLOAT, 0);
        }
    }

    /** Destroys an event. */
    public static void eventDestroy(MemorySegment event) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaEventDestroy(Arguments.handle(event, "event")), "cudaEventDestroy");
    }

    /** Blocks the host until all work on the current device is done. */
    public static void deviceSynchronize() {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    }

    /**
     * Returns and clears the last error of the calling thread ({@code cudaGetLastError}); throws it as
     * {@link CudaException} naming {@code context} (e.g. the kernel just launched) when there was one.
     */
    public static void checkLastError(String context) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaGetLastError(), "cudaGetLastError after " + context);
    }

    /** Starts capturing the stream's work into a graph. */
    public static void streamBeginCapture(MemorySegment stream, CaptureMode mode) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaStreamBeginCapture(Arguments.handle(stream, "stream"), mode.code),
                "cudaStreamBeginCapture");
    }

    /** Ends the capture and returns the captured graph. */
    public static MemorySegment streamEndCapture(MemorySegment stream) {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment g = arena.allocate(ValueLayout.ADDRESS);
            check(cuda_runtime_api_h.cudaStreamEndCapture(Arguments.handle(stream, "stream"), g),
                    "cudaStreamEndCapture");
            return g.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Instantiates a graph into an executable graph. */
    public static MemorySegment graphInstantiate(MemorySegment graph) {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment e = arena.allocate(ValueLayout.ADDRESS);
            check(cuda_runtime_api_h.cudaGraphInstantiate(e, Arguments.handle(graph, "graph"), 0L),
                    "cudaGraphInstantiate");
            return e.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Launches an executable graph on a stream. */
    public static void graphLaunch(MemorySegment graphExec, MemorySegment stream) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaGraphLaunch(Arguments.handle(graphExec, "executable graph"),
                Arguments.stream(stream)), "cudaGraphLaunch");
    }

    /** Destroys an executable graph. */
    public static void graphExecDestroy(MemorySegment graphExec) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaGraphExecDestroy(Arguments.handle(graphExec, "executable graph")),
                "cudaGraphExecDestroy");
    }

    /** Destroys a graph. */
    public static void graphDestroy(MemorySegment graph) {
        ensureLoaded();
        check(cuda_runtime_api_h.cudaGraphDestroy(Arguments.handle(graph, "graph")), "cudaGraphDestroy");
    }

    private static boolean ready(int status, String function) {
        if (status == cuda_runtime_api_h.cudaErrorNotReady()) {
            return false;
        }
        check(status, function);
        return true;
    }
}
