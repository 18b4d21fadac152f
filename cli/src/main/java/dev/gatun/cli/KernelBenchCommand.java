package dev.gatun.cli;

import dev.gatun.bindings.Cuda;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.Device;
import dev.gatun.ops.cuda.CudaBackend;
import dev.gatun.ops.cuda.CudaBackendOptions;
import dev.gatun.ops.cuda.KernelLoad;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code gatun bench kernels}: loads every CUDA kernel family of the backend on {@code cuda:0} and prints, per family,
 * where its image came from (NVRTC or the {@code --cache} directory) and the milliseconds it took, then the total.
 * Run once with an empty cache directory for the cold NVRTC cost, then again with the same directory for the cost of a
 * later process that reads the cache. Needs a CUDA device; without one it says why and exits 1.
 */
@Command(name = "kernels", mixinStandardHelpOptions = true,
        description = "Time the NVRTC compile (or disk-cache read) and load of every CUDA kernel family on cuda:0.")
final class KernelBenchCommand implements Callable<Integer> {
    @Option(names = "--cache", description = "kernel cache directory (default: none, every family is compiled)")
    Path cache;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (!Cuda.isAvailable()) { // one line and exit 1, by CliErrors
            throw new IllegalStateException("no CUDA device: " + Cuda.unavailableReason());
        }
        PrintWriter out = spec.commandLine().getOut();
        CudaBackendOptions options = cache == null ? CudaBackendOptions.DEFAULT
                : CudaBackendOptions.DEFAULT.withKernelCache(cache);
        Device gpu = Device.cuda(0);
        try (CudaStream stream = new CudaStream(gpu);
             CachingDeviceAllocator memory = CachingDeviceAllocator.cuda(gpu);
             CudaBackend backend = new CudaBackend(stream, memory, options)) {
            out.printf("# CUDA kernel families on %s, cache %s%n", gpu, cache == null ? "none" : cache);
            out.printf("%-18s %-14s %10s%n", "family", "from", "ms");
            List<KernelLoad> loads = backend.loadKernels();
            Duration total = Duration.ZERO;
            for (KernelLoad load : loads) {
                out.printf(Locale.ROOT, "%-18s %-14s %10.1f%n", load.family(), load.origin().label(),
                        load.time().toNanos() / 1e6);
                total = total.plus(load.time());
            }
            long compiled = loads.stream().filter(l -> l.origin() == KernelLoad.Origin.NVRTC).count();
            out.printf(Locale.ROOT, "total %d families in %.1f ms (%d compiled by NVRTC, %d from the disk cache)%n",
                    loads.size(), total.toNanos() / 1e6, compiled,
                    loads.stream().filter(l -> l.origin() == KernelLoad.Origin.DISK_CACHE).count());
            out.flush();
        }
        return CommandLine.ExitCode.OK;
    }
}
