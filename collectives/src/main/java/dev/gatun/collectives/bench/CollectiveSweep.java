package dev.gatun.collectives.bench;

import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * An nccl-tests-style sweep of one collective over message sizes, run by every rank of a communicator with the same
 * arguments. For a size {@code S} in bytes (all-reduce: the buffer; reduce-scatter: the whole input; all-gather: the
 * whole output) and a time {@code t} per call, {@code algbw = S/t} and {@code busbw = algbw·factor(n)}, with
 * nccl-tests' bus factors: all-reduce {@code 2(n−1)/n}, reduce-scatter and all-gather {@code (n−1)/n} — the fraction
 * of the data each rank's link must carry, so that busbw compares with the link's bandwidth whatever {@code n}.
 */
public final class CollectiveSweep {
    private CollectiveSweep() {
    }

    /** The collectives swept. */
    public enum Op {
        ALL_REDUCE("all_reduce"), REDUCE_SCATTER("reduce_scatter"), ALL_GATHER("all_gather");

        private final String label;

        Op(String label) {
            this.label = label;
        }

        /** nccl-tests' bus factor for {@code n} ranks. */
        public double busFactor(int n) {
            return this == ALL_REDUCE ? 2.0 * (n - 1) / n : (double) (n - 1) / n;
        }

        /**
         * The highest busbw, as a fraction of memcpy bandwidth ({@code S/t} of a copy, which reads {@code S} and
         * writes {@code S} bytes), that {@code n} ranks sharing one memory can reach when every rank's buffers are its
         * own (NCCL semantics): all-reduce reads {@code n·S} and writes {@code n·S} bytes, so
         * {@code t ≥ n·S/memcpy} and busbw ≤ {@code 2(n−1)/n²} of memcpy (0.5 at 2 ranks, 0.375 at 4); reduce-scatter
         * and all-gather move at least {@code (n+1)·S}, bounding busbw by {@code 2(n−1)/(n(n+1))}.
         */
        public double sharedMemoryBound(int n) {
            return this == ALL_REDUCE ? 2.0 * (n - 1) / ((double) n * n) : 2.0 * (n - 1) / ((double) n * (n + 1));
        }

        /** The name printed, e.g. {@code all_reduce}. */
        public String label() {
            return label;
        }

        /** Parses {@code allreduce}, {@code all_reduce}, {@code reducescatter}, {@code allgather} (any case). */
        public static Op parse(String text) {
            String t = text.toLowerCase(Locale.ROOT).replace("_", "").replace("-", "");
            for (Op op : values()) {
                if (op.label.replace("_", "").equals(t)) {
                    return op;
                }
            }
            throw new IllegalArgumentException("unknown collective '" + text
                    + "': expected all_reduce, reduce_scatter or all_gather");
        }
    }

    /** One measured size: time per call in microseconds and the two bandwidths in GB/s (1e9 bytes/s). */
    public record Row(Op op, DType dtype, int ranks, long bytes, long count, double micros, double algbw,
                      double busbw) {
        /** A line of the nccl-tests-style table. */
        public String format() {
            return String.format(Locale.ROOT, "%14d %12d %8s %-15s %12.2f %10.3f %10.3f", bytes, count,
                    dtype.shortName(), op.label(), micros, algbw, busbw);
        }

        /** The table header matching {@link #format()}. */
        public static String header() {
            return String.format(Locale.ROOT, "%14s %12s %8s %-15s %12s %10s %10s", "size(B)", "count", "type",
                    "op", "time(us)", "algbw", "busbw") + "\n" + String.format(Locale.ROOT, "%14s %12s %8s %-15s %12s %10s %10s",
                    "", "(elements)", "", "", "", "(GB/s)", "(GB/s)");
        }
    }

    /**
     * Sweeps {@code op} over {@code sizes} (bytes; each rounded down to a multiple of {@code n·dtype} bytes, at least
     * one element per rank): {@code warmup} untimed calls, then {@code iterations} timed ones between barriers, the
     * stream synchronised before the clock stops. Buffers come from {@code allocator} (on the communicator's device)
     * and are freed before returning.
     */
    public static List<Row> run(Communicator comm, TensorAllocator allocator, Op op, DType dtype, List<Long> sizes,
                                int warmup, int iterations) {
        Objects.requireNonNull(comm, "communicator must not be null");
        if (iterations < 1 || warmup < 0) {
            throw new IllegalArgumentException("iterations must be >= 1 and warmup >= 0, got " + iterations + ", "
                    + warmup);
        }
        int n = comm.size();
        long unit = (long) n * dtype.byteSize();
        long largest = sizes.stream().mapToLong(s -> Math.max(unit, s / unit * unit)).max().orElse(unit);
        List<Row> rows = new ArrayList<>();
        try (Tensor in = Tensor.allocate(allocator, dtype, Shape.of(largest / dtype.byteSize()),
                MemoryCategory.COMMUNICATION, "sweep.in", comm.stream());
             Tensor out = Tensor.allocate(allocator, dtype, Shape.of(largest / dtype.byteSize()),
                     MemoryCategory.COMMUNICATION, "sweep.out", comm.stream())) {
            in.fill(1, comm.stream());
            for (long size : sizes) {
                long bytes = Math.max(unit, size / unit * unit);
                long elements = bytes / dtype.byteSize();
                Runnable call = switch (op) {
                    case ALL_REDUCE -> () -> comm.allReduce(in.flat(0, elements), out.flat(0, elements), ReduceOp.SUM);
                    case REDUCE_SCATTER -> () -> comm.reduceScatter(in.flat(0, elements), out.flat(0, elements / n),
                            ReduceOp.SUM);
                    case ALL_GATHER -> () -> comm.allGather(in.flat(0, elements / n), out.flat(0, elements));
                };
                for (int i = 0; i < warmup; i++) {
                    call.run();
                }
                comm.stream().synchronize();
                comm.barrier();
                long start = System.nanoTime();
                for (int i = 0; i < iterations; i++) {
                    call.run();
                }
                comm.stream().synchronize();
                double seconds = (System.nanoTime() - start) / 1e9 / iterations;
                comm.barrier();
                double algbw = bytes / seconds / 1e9;
                long count = op == Op.ALL_REDUCE ? elements : elements / n;
                rows.add(new Row(op, dtype, n, bytes, count, seconds * 1e6, algbw, algbw * op.busFactor(n)));
            }
        }
        return rows;
    }

    /** Sizes from {@code min} to {@code max} bytes, multiplying by {@code factor} (nccl-tests' {@code -b -e -f}). */
    public static List<Long> sizes(long min, long max, int factor) {
        if (min < 1 || max < min || factor < 2) {
            throw new IllegalArgumentException("sizes need 1 <= min <= max and factor >= 2, got min=" + min + " max="
                    + max + " factor=" + factor);
        }
        List<Long> out = new ArrayList<>();
        for (long s = min; s <= max; s = s > Long.MAX_VALUE / factor ? Long.MAX_VALUE : s * factor) {
            out.add(s);
            if (s == Long.MAX_VALUE) {
                break;
            }
        }
        return out;
    }
}
