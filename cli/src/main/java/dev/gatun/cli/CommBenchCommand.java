package dev.gatun.cli;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.Mpi;
import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.InProcessWorld;
import dev.gatun.collectives.bench.CollectiveSweep;
import dev.gatun.collectives.launch.JobEnvironment;
import dev.gatun.collectives.mpi.MpiCommunicator;
import dev.gatun.collectives.nccl.NcclCommunicator;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HostAllocator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * {@code gatun comm-bench}: an nccl-tests-style sweep (size, count, type, time, algbw, busbw) of all-reduce,
 * reduce-scatter and all-gather, on the in-process backend (ranks as threads, compared with this machine's memcpy
 * bandwidth measured in the same run) or on NCCL over 2, 4, 8 GPUs of this box (the NVLink scaling test: busbw
 * per rank count and the scaling efficiency against the smallest count, with the topology nvidia-smi reports). With
 * fewer than 2 GPUs the NCCL sweep says why it cannot run and exits cleanly. On MPI, one process per rank: under
 * mpirun this process is a rank of the sweep; otherwise each --ranks count is an mpirun -np N job of this command.
 */
@Command(name = "comm-bench", mixinStandardHelpOptions = true,
        description = "Sweep collectives over message sizes: time, algbw, busbw (nccl-tests' bus factors).")
final class CommBenchCommand implements Callable<Integer> {
    @Option(names = "--backend", defaultValue = "inprocess", description = "inprocess, nccl or mpi (one process per "
            + "rank: under mpirun, this process's rank; else an mpirun -np N job per --ranks count) (default "
            + "${DEFAULT-VALUE})")
    String backend;

    @Option(names = "--ranks", defaultValue = "4", split = ",",
            description = "rank counts to sweep, e.g. 2,4,8 (default ${DEFAULT-VALUE})")
    List<Integer> ranks;

    @Option(names = "--op", defaultValue = "all", description = "all_reduce, reduce_scatter, all_gather or all")
    String op;

    @Option(names = "--dtype", defaultValue = "fp32", description = "fp32, bf16, fp16 or int32 (default ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = {"-b", "--min-bytes"}, defaultValue = "1K", converter = ByteSizeConverter.class,
            description = "smallest size in bytes, K/M/G suffixes as nccl-tests (default ${DEFAULT-VALUE})")
    long minBytes;

    @Option(names = {"-e", "--max-bytes"}, defaultValue = "64M", converter = ByteSizeConverter.class,
            description = "largest size in bytes, K/M/G suffixes (default ${DEFAULT-VALUE})")
    long maxBytes;

    @Option(names = {"-f", "--factor"}, defaultValue = "4", description = "size multiplier (default ${DEFAULT-VALUE})")
    int factor;

    @Option(names = {"-n", "--iters"}, defaultValue = "20", description = "timed calls per size (default ${DEFAULT-VALUE})")
    int iterations;

    @Option(names = {"-w", "--warmup"}, defaultValue = "5", description = "untimed calls per size (default ${DEFAULT-VALUE})")
    int warmup;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        String problem = ranks.stream().anyMatch(n -> n < 1) ? "--ranks " + ranks + ": every rank count must be >= 1"
                : minBytes < 1 || minBytes > maxBytes ? "-b " + minBytes + " and -e " + maxBytes
                + ": sizes need 1 <= -b <= -e"
                : factor < 2 ? "-f " + factor + " must be >= 2 (each size is the previous one times -f)"
                : iterations < 1 ? "-n " + iterations + " must be >= 1 (timed calls per size)"
                : warmup < 0 ? "-w " + warmup + " must be >= 0 (untimed calls per size)" : null;
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        DType type = DType.parse(dtype);
        List<CollectiveSweep.Op> ops = op.equalsIgnoreCase("all") ? List.of(CollectiveSweep.Op.values())
                : List.of(CollectiveSweep.Op.parse(op));
        List<Long> sizes = CollectiveSweep.sizes(minBytes, maxBytes, factor);
        return switch (backend.toLowerCase(Locale.ROOT)) {
            case "inprocess" -> inProcess(out, ops, type, sizes);
            case "nccl" -> nccl(out, ops, type, sizes);
            case "mpi" -> mpi(out, ops, type, sizes);
            default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "unknown backend '" + backend + "': expected inprocess, nccl or mpi");
        };
    }

    private int inProcess(PrintWriter out, List<CollectiveSweep.Op> ops, DType type, List<Long> sizes) {
        long copyBytes = Math.max(maxBytes, 1 << 20);
        int cores = Runtime.getRuntime().availableProcessors();
        double single = memcpyBandwidth(copyBytes, 1);
        double all = cores > 1 ? memcpyBandwidth(copyBytes, cores) : single;
        out.printf(Locale.ROOT, "# in-process backend (ranks are threads), %d cores; memcpy (MemorySegment.copy of %d B): "
                + "%.2f GB/s on 1 thread, %.2f GB/s on %d threads%n", cores, copyBytes, single, all, cores);
        for (int n : ranks) {
            // The bound comes from the copy bandwidth of as many threads as n ranks can run at once, measured
            // again right before each sweep: this memory's bandwidth drifts between runs on a shared machine.
            int parallel = Math.min(n, cores);
            for (CollectiveSweep.Op o : ops) {
                double memcpy = memcpyBandwidth(copyBytes, parallel);
                List<List<CollectiveSweep.Row>> rows = InProcessWorld.run(n, comm -> {
                    try (HostAllocator host = new HostAllocator()) {
                        return CollectiveSweep.run(comm, host, o, type, sizes, warmup, iterations);
                    }
                });
                print(out, n, rows.getFirst());
                CollectiveSweep.Row last = rows.getFirst().getLast();
                double ratio = last.busbw() / memcpy;
                out.printf(Locale.ROOT, "# %s, %d ranks, %d B: busbw / memcpy of %d thread%s (%.2f GB/s, just before) = %.3f%s%n",
                        o.label(), n, last.bytes(), parallel, parallel == 1 ? "" : "s", memcpy, ratio, n < 2 ? ""
                                : String.format(Locale.ROOT, "; the memory-traffic bound of %d ranks with buffers of "
                                + "their own is %.3f (%.0f%% of it reached)", n, o.sharedMemoryBound(n),
                                100 * ratio / o.sharedMemoryBound(n)));
            }
        }
        out.flush();
        return 0;
    }

    /**
     * Under mpirun: this process is one rank of the sweep, rank 0 prints. Otherwise: one {@code mpirun -np N} job of
     * this same command per rank count, their rank 0's rows printed here.
     */
    private int mpi(PrintWriter out, List<CollectiveSweep.Op> ops, DType type, List<Long> sizes) throws Exception {
        if (JobEnvironment.mpiFromSystem().isPresent()) {
            try (HostAllocator host = new HostAllocator();
                 var world = MpiCommunicator.world(DeviceStream.cpu(), CommOptions.DEFAULT)) {
                double memcpy = world.rank() == 0 ? memcpyBandwidth(Math.max(maxBytes, 1 << 20), 1) : 0;
                if (world.rank() == 0) {
                    out.printf(Locale.ROOT, "# MPI backend (%s), %d processes, %d cores; memcpy: %.2f GB/s%n",
                            Mpi.libraryVersion().lines().findFirst().orElse("").replaceFirst(",.*",
                                    ""), world.size(), Runtime.getRuntime().availableProcessors(), memcpy);
                }
                for (CollectiveSweep.Op o : ops) {
                    List<CollectiveSweep.Row> rows = CollectiveSweep.run(world, host, o, type, sizes, warmup,
                            iterations);
                    if (world.rank() == 0) {
                        print(out, world.size(), rows);
                        CollectiveSweep.Row last = rows.getLast();
                        out.printf(Locale.ROOT, "# %s, %d processes, %d B: busbw / memcpy = %.3f%s%n", o.label(),
                                world.size(), last.bytes(), last.busbw() / memcpy, world.size() < 2 ? ""
                                        : String.format(Locale.ROOT, "; the memory-traffic bound of %d ranks on one "
                                        + "node is %.3f", world.size(), o.sharedMemoryBound(world.size())));
                    }
                }
                out.flush();
            } finally {
                Mpi.finish();
            }
            return 0;
        }
        if (!MpiJobs.mpirunOnPath()) {
            throw new IllegalArgumentException("comm-bench --backend mpi starts mpirun -np N for each --ranks count, "
                    + "but there is no mpirun on PATH: install Open MPI (Debian: openmpi-bin libopenmpi-dev)");
        }
        for (int n : ranks) {
            List<String> args = new ArrayList<>(spec.commandLine().getParseResult().originalArgs());
            MpiJobs.Result r = MpiJobs.run(n, args);
            out.print(r.out());
            if (r.exit() != 0) {
                throw new IllegalStateException("mpirun -np " + n + " comm-bench --backend mpi failed (exit "
                        + r.exit() + "): " + r.err().strip().lines().reduce((a, b) -> b).orElse(""));
            }
            out.flush();
        }
        return 0;
    }

    private int nccl(PrintWriter out, List<CollectiveSweep.Op> ops, DType type, List<Long> sizes) throws Exception {
        if (!Cuda.isAvailable()) {
            out.println("comm-bench --backend nccl needs at least 2 CUDA GPUs; this machine has none: "
                    + Cuda.unavailableReason());
            out.flush();
            return 0;
        }
        int gpus = Cuda.deviceCount();
        if (gpus < 2) {
            out.println("comm-bench --backend nccl needs at least 2 CUDA GPUs (NCCL puts one rank per GPU); this "
                    + "machine has " + gpus + ": nothing to scale over");
            out.flush();
            return 0;
        }
        out.println("# NCCL on " + gpus + " GPUs; topology (nvidia-smi topo -m):");
        out.println(topology());
        for (CollectiveSweep.Op o : ops) {
            List<CollectiveSweep.Row> base = null;
            for (int n : ranks) {
                if (n > gpus || n < 2) {
                    out.println("# " + o.label() + ": skipping " + n + " ranks (this box has " + gpus + " GPUs)");
                    continue;
                }
                List<CollectiveSweep.Row> rows = ncclSweep(n, o, type, sizes);
                print(out, n, rows);
                if (base == null) {
                    base = rows;
                } else {
                    for (int i = 0; i < rows.size(); i++) {
                        out.printf(Locale.ROOT, "#   %d B: busbw %d ranks / %d ranks = %.3f%n", rows.get(i).bytes(), n,
                                base.get(i).ranks(), rows.get(i).busbw() / base.get(i).busbw());
                    }
                }
            }
        }
        out.flush();
        return 0;
    }

    private List<CollectiveSweep.Row> ncclSweep(int n, CollectiveSweep.Op o, DType type, List<Long> sizes)
            throws Exception {
        List<CudaStream> streams = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            streams.add(new CudaStream(Device.cuda(i)));
        }
        List<NcclCommunicator> comms = NcclCommunicator.initAll("world", streams, CommOptions.DEFAULT);
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<List<CollectiveSweep.Row>>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                NcclCommunicator comm = comms.get(i);
                Device device = Device.cuda(i);
                futures.add(pool.submit(() -> {
                    Cuda.setDevice(device.ordinal());
                    try (CachingDeviceAllocator memory = CachingDeviceAllocator.cuda(device)) {
                        return CollectiveSweep.run(comm, memory, o, type, sizes, warmup, iterations);
                    } finally {
                        comm.close(); // on its own thread: ncclCommDestroy is collective within a node
                    }
                }));
            }
            List<CollectiveSweep.Row> first = null;
            for (Future<List<CollectiveSweep.Row>> f : futures) {
                List<CollectiveSweep.Row> rows = f.get();
                first = first == null ? rows : first;
            }
            return first;
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(1, java.util.concurrent.TimeUnit.MINUTES);
            streams.forEach(CudaStream::close);
        }
    }

    private static void print(PrintWriter out, int n, List<CollectiveSweep.Row> rows) {
        out.println("# " + rows.getFirst().op().label() + ", " + n + " ranks");
        out.println(CollectiveSweep.Row.header());
        rows.forEach(r -> out.println(r.format()));
    }

    /** Bytes per second of {@link MemorySegment#copy} between two off-heap buffers of {@code bytes}, best of 5. */
    /**
     * The copy bandwidth {@code S/t} (GB/s) of {@code threads} threads copying one {@code bytes}-byte buffer into
     * another together, each its own contiguous share, started at once: the best of five rounds.
     */
    static double memcpyBandwidth(long bytes, int threads) {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            MemorySegment a = arena.allocate(bytes, 64);
            MemorySegment b = arena.allocate(bytes, 64);
            a.fill((byte) 1);
            b.fill((byte) 2);
            long share = (bytes / threads + 63) / 64 * 64;
            double best = Double.MAX_VALUE;
            for (int round = 0; round < 5; round++) {
                CyclicBarrier start = new CyclicBarrier(threads);
                List<Future<Long>> parts = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    long from = Math.min(bytes, t * share);
                    long len = Math.min(bytes, from + share) - from;
                    parts.add(pool.submit(() -> {
                        start.await();
                        long begin = System.nanoTime();
                        MemorySegment.copy(a, from, b, from, len);
                        return begin;
                    }));
                }
                long first = Long.MAX_VALUE;
                for (Future<Long> f : parts) {
                    first = Math.min(first, f.get());
                }
                best = Math.min(best, (System.nanoTime() - first) / 1e9);
            }
            return bytes / best / 1e9;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while measuring memcpy bandwidth", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("measuring memcpy bandwidth failed: " + e.getCause(), e);
        }
    }

    private static String topology() {
        try {
            Process p = new ProcessBuilder("nvidia-smi", "topo", "-m").redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor();
            return text.strip();
        } catch (IOException e) {
            return "(nvidia-smi not available: " + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted)";
        }
    }
}
