package dev.gatun.ops.cuda;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.CudaDriver;
import dev.gatun.bindings.DeviceAttribute;
import dev.gatun.bindings.KernelArguments;
import dev.gatun.bindings.Nvrtc;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.Device;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * The backend's kernels on one CUDA device: each family's source is compiled by NVRTC for the device's own
 * architecture ({@code sm_XY}) on first use, loaded as a module, and its functions looked up once. Compiled images
 * are shared by every device of the same architecture in the process (they are immutable bytes) and, when a cache
 * directory is given, kept on disk under a name that hashes the source, the options and the NVRTC version.
 */
final class CudaKernels implements AutoCloseable {
    private static final Map<String, byte[]> IMAGES = new ConcurrentHashMap<>();

    private final Device device;
    private final String architecture;
    private final Optional<Path> cacheDirectory;
    private final Map<Kernel.Family, MemorySegment> modules = new EnumMap<>(Kernel.Family.class);
    private final Map<Kernel, MemorySegment> functions = new EnumMap<>(Kernel.class);

    CudaKernels(Device device, Optional<Path> cacheDirectory) {
        this.device = device;
        int major = Cuda.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR, device.ordinal());
        int minor = Cuda.deviceAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MINOR, device.ordinal());
        this.architecture = "sm_" + major + minor;
        this.cacheDirectory = cacheDirectory;
    }

    /** NVRTC options for an architecture. */
    static List<String> options(String architecture) {
        return List.of("--gpu-architecture=" + architecture, "--std=c++17");
    }

    /**
     * Launches {@code kernel} on {@code stream} with a 1-D grid; {@code arguments} adds the kernel's arguments in
     * order.
     */
    void launch(Kernel kernel, long grid, int block, CudaStream stream, Consumer<KernelArguments> arguments) {
        if (grid <= 0 || grid > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(kernel.symbol() + ": grid of " + grid + " blocks is out of range");
        }
        MemorySegment function = function(kernel);
        try (Arena arena = Arena.ofConfined()) {
            KernelArguments args = new KernelArguments(arena);
            arguments.accept(args);
            CudaDriver.launchKernel(function, (int) grid, 1, 1, block, 1, 1, 0, stream.handle(), args.array());
        }
    }

    private synchronized MemorySegment function(Kernel kernel) {
        MemorySegment function = functions.get(kernel);
        if (function == null) {
            function = CudaDriver.moduleGetFunction(module(kernel.family, origin -> { }), kernel.symbol());
            functions.put(kernel, function);
        }
        return function;
    }

    /** Loads every family's module now (compiling or reading what is not yet in this process), timing each. */
    synchronized List<KernelLoad> loadAll() {
        List<KernelLoad> loads = new ArrayList<>();
        for (Kernel.Family family : Kernel.Family.values()) {
            KernelLoad.Origin[] origin = {KernelLoad.Origin.LOADED};
            long start = System.nanoTime();
            module(family, o -> origin[0] = o);
            loads.add(new KernelLoad(family.fileName(), origin[0], Duration.ofNanos(System.nanoTime() - start)));
        }
        return loads;
    }

    private MemorySegment module(Kernel.Family family, Consumer<KernelLoad.Origin> origin) {
        MemorySegment module = modules.get(family);
        if (module == null) {
            Cuda.setDevice(device.ordinal());
            module = CudaDriver.moduleLoadData(image(family, origin));
            modules.put(family, module);
        }
        return module;
    }

    private byte[] image(Kernel.Family family, Consumer<KernelLoad.Origin> origin) {
        String source = KernelSources.source(family);
        List<String> options = options(architecture);
        String key = family.fileName() + "@" + architecture + "#" + digest(source + options + Nvrtc.version());
        origin.accept(KernelLoad.Origin.PROCESS);
        return IMAGES.computeIfAbsent(key, k -> cacheDirectory
                .map(dir -> loadOrCompile(dir, family, source, options, k, origin))
                .orElseGet(() -> {
                    origin.accept(KernelLoad.Origin.NVRTC);
                    return compile(family, source, options);
                }));
    }

    private byte[] loadOrCompile(Path dir, Kernel.Family family, String source, List<String> options, String key,
                                 Consumer<KernelLoad.Origin> origin) {
        Path file = dir.resolve(family.name().toLowerCase(java.util.Locale.ROOT) + "-" + architecture + "-"
                + key.substring(key.indexOf('#') + 1, key.indexOf('#') + 17) + ".cubin");
        try {
            if (Files.isRegularFile(file)) {
                origin.accept(KernelLoad.Origin.DISK_CACHE);
                return Files.readAllBytes(file);
            }
            origin.accept(KernelLoad.Origin.NVRTC);
            byte[] image = compile(family, source, options);
            Files.createDirectories(dir);
            Path temp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
            Files.write(temp, image);
            try {
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            return image;
        } catch (IOException e) {
            throw new UncheckedIOException("kernel cache " + file, e);
        }
    }

    private static byte[] compile(Kernel.Family family, String source, List<String> options) {
        Nvrtc.Compiled compiled = Nvrtc.compile(source, family.fileName(), options);
        if (compiled.cubin() == null || compiled.cubin().length == 0) {
            // NVRTC gives PTX only for a virtual architecture; the driver JIT-compiles it.
            return (compiled.ptx() + "\0").getBytes(StandardCharsets.US_ASCII);
        }
        return compiled.cubin();
    }

    private static String digest(String text) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(sha.digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    /** The architecture kernels are compiled for, e.g. {@code sm_90}. */
    String architecture() {
        return architecture;
    }

    @Override
    public synchronized void close() {
        Cuda.setDevice(device.ordinal());
        modules.values().forEach(CudaDriver::moduleUnload);
        modules.clear();
        functions.clear();
    }
}
