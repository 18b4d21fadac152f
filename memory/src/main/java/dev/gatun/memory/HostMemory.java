package dev.gatun.memory;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

/**
 * The host memory this process can still take: on Linux the kernel's estimate of what can be allocated without
 * swapping ({@code MemAvailable} of {@code /proc/meminfo}: free memory plus reclaimable caches), no more than the
 * memory the JVM sees in all (a container's limit); elsewhere the free memory the JVM reports. Tensors in host memory
 * are native allocations outside the Java heap, so this, not {@code -Xmx} or {@code -XX:MaxDirectMemorySize}, bounds
 * them.
 */
public final class HostMemory {
    private static final Path MEMINFO = Path.of("/proc/meminfo");

    private HostMemory() {
    }

    /** Bytes available now, as described above. */
    public static long availableBytes() {
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long total = os.getTotalMemorySize();
        OptionalLong available = memAvailable();
        return available.isPresent() ? Math.min(available.getAsLong(), total) : os.getFreeMemorySize();
    }

    /** Where {@link #availableBytes()} comes from, in words. */
    public static String source() {
        return memAvailable().isPresent() ? "host memory available (MemAvailable)" : "free host memory";
    }

    private static OptionalLong memAvailable() {
        if (!Files.isReadable(MEMINFO)) {
            return OptionalLong.empty();
        }
        try {
            return parseMemAvailable(Files.readAllLines(MEMINFO));
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
    }

    /** {@code MemAvailable} in bytes from the lines of {@code /proc/meminfo} ({@code "MemAvailable:  123 kB"}). */
    static OptionalLong parseMemAvailable(List<String> lines) {
        for (String line : lines) {
            if (line.startsWith("MemAvailable:")) {
                String[] parts = line.substring("MemAvailable:".length()).trim().split("\\s+");
                long value = Long.parseLong(parts[0]);
                return OptionalLong.of(parts.length > 1 && parts[1].equalsIgnoreCase("kB") ? value * 1024 : value);
            }
        }
        return OptionalLong.empty();
    }
}
