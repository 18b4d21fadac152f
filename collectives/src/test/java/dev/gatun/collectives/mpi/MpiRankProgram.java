package dev.gatun.collectives.mpi;

import dev.gatun.bindings.Mpi;
import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;

import java.time.Duration;
import java.util.Random;

/**
 * One rank of an MPI job started by {@link MpiCommunicatorTest} under {@code mpirun}: runs every operation of the
 * communicator on fresh random inputs that every rank can recompute (seeded by the rank), checks each result against
 * a float64 reference, prints {@code rank R of N: K checks passed} and exits 0, or throws. With the argument
 * {@code mismatch}, rank 1 skips an all-reduce the others make, so the job must end by its timeout.
 */
public final class MpiRankProgram {
    private MpiRankProgram() {
    }

    private static float[] values(int rank, int n, long salt) {
        Random r = new Random(1000L * rank + salt);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private static int checks;

    private static void near(double want, double got, double tol, String what) {
        if (!(Math.abs(want - got) <= tol * Math.max(1, Math.abs(want)))) {
            throw new AssertionError(what + ": expected " + want + ", got " + got);
        }
        checks++;
    }

    public static void main(String[] args) {
        boolean mismatch = args.length > 0 && args[0].equals("mismatch");
        DeviceStream stream = DeviceStream.cpu();
        try (HostAllocator alloc = new HostAllocator();
             Communicator world = MpiCommunicator.world(stream, CommOptions.DEFAULT.withTimeout(
                     Duration.ofSeconds(mismatch ? 5 : 60)))) {
            int rank = world.rank();
            int size = world.size();
            if (mismatch) {
                try (Tensor t = tensor(alloc, DType.FP32, 4, values(rank, 4, 9))) {
                    if (rank != 1) {
                        world.allReduce(t, ReduceOp.SUM);
                    }
                    world.barrier();
                }
                System.out.println("rank " + rank + " finished (it should not have)");
                return;
            }
            int n = 6 * size;
            // all-reduce of every op, in place and out of place, fp32 and bf16
            for (ReduceOp op : ReduceOp.values()) {
                for (DType dt : new DType[]{DType.FP32, DType.BF16}) {
                    try (Tensor in = tensor(alloc, dt, n, values(rank, n, op.ordinal()));
                         Tensor out = tensor(alloc, dt, n, new float[n])) {
                        float[] mine = in.toFloatArray(stream);
                        world.allReduce(in, out, op);
                        float[] got = out.toFloatArray(stream);
                        world.allReduce(in, op);
                        float[] inPlace = in.toFloatArray(stream);
                        for (int i = 0; i < n; i++) {
                            double want = reduce(op, i, size, n, dt, stream, alloc);
                            double tol = dt == DType.BF16 ? 1e-2 : 1e-5;
                            near(want, got[i], tol, "all-reduce " + op + " " + dt + " [" + i + "]");
                            near(want, inPlace[i], tol, "in-place all-reduce " + op + " " + dt + " [" + i + "]");
                        }
                        if (mine.length != n) {
                            throw new AssertionError();
                        }
                    }
                }
            }
            // reduce-scatter into this rank's chunk of its own input, as ZeRO-1 does
            try (Tensor full = tensor(alloc, DType.FP32, n, values(rank, n, 20))) {
                int c = n / size;
                Tensor chunk = full.flat((long) rank * c, c);
                world.reduceScatter(full, chunk, ReduceOp.AVG);
                float[] got = chunk.toFloatArray(stream);
                for (int i = 0; i < c; i++) {
                    double sum = 0;
                    for (int r = 0; r < size; r++) {
                        sum += values(r, n, 20)[rank * c + i];
                    }
                    near(sum / size, got[i], 1e-5, "reduce-scatter avg [" + i + "]");
                }
            }
            // all-gather in place (this rank's part already in the output) and from a separate input
            try (Tensor out = tensor(alloc, DType.FP32, n, new float[n])) {
                int c = n / size;
                Tensor mine = out.flat((long) rank * c, c);
                mine.copyFrom(values(rank, c, 30), stream);
                world.allGather(mine, out);
                float[] got = out.toFloatArray(stream);
                for (int r = 0; r < size; r++) {
                    float[] part = values(r, c, 30);
                    for (int i = 0; i < c; i++) {
                        near(part[i], got[r * c + i], 0, "all-gather [" + (r * c + i) + "]");
                    }
                }
            }
            // broadcast and reduce to the last rank
            int root = size - 1;
            try (Tensor in = tensor(alloc, DType.FP32, n, values(rank, n, 40));
                 Tensor out = tensor(alloc, DType.FP32, n, new float[n])) {
                world.broadcast(in, out, root);
                float[] got = out.toFloatArray(stream);
                float[] want = values(root, n, 40);
                for (int i = 0; i < n; i++) {
                    near(want[i], got[i], 0, "broadcast [" + i + "]");
                }
                world.reduce(in, out, ReduceOp.SUM, root);
                if (rank == root) {
                    float[] red = out.toFloatArray(stream);
                    for (int i = 0; i < n; i++) {
                        double sum = 0;
                        for (int r = 0; r < size; r++) {
                            sum += values(r, n, 40)[i];
                        }
                        near(sum, red[i], 1e-5, "reduce [" + i + "]");
                    }
                }
            }
            // a ring exchange of sends and receives in one group, and asynchronously
            try (Tensor send = tensor(alloc, DType.FP32, 5, values(rank, 5, 50));
                 Tensor recv = tensor(alloc, DType.FP32, 5, new float[5])) {
                int next = (rank + 1) % size;
                int prev = (rank + size - 1) % size;
                world.group(() -> {
                    world.send(send, next);
                    world.recv(recv, prev);
                });
                float[] got = recv.toFloatArray(stream);
                float[] want = values(prev, 5, 50);
                for (int i = 0; i < 5; i++) {
                    near(want[i], got[i], 0, "ring recv [" + i + "]");
                }
                var w = world.allReduceAsync(send, recv, ReduceOp.MAX);
                w.await();
                checks++;
            }
            // split into even and odd ranks; an all-reduce in each
            try (Communicator half = world.split(rank % 2, rank, "half");
                 Tensor t = tensor(alloc, DType.INT32, 1, new float[]{rank})) {
                half.allReduce(t, ReduceOp.SUM);
                int want = 0;
                for (int r = rank % 2; r < size; r += 2) {
                    want += r;
                }
                near(want, t.toIntArray(stream)[0], 0, "split all-reduce");
                near((size + 1 - rank % 2) / 2, half.size(), 0, "split size");
            }
            // bytes from the last rank, as NCCL's unique id travels under MPI
            byte[] id = ((MpiCommunicator) world).broadcastBytes(size - 1, () -> {
                byte[] b = new byte[128];
                new Random(77).nextBytes(b);
                return b;
            }, 128);
            byte[] want = new byte[128];
            new Random(77).nextBytes(want);
            for (int i = 0; i < 128; i++) {
                near(want[i], id[i], 0, "broadcast bytes [" + i + "]");
            }
            world.barrier();
            System.out.println("rank " + rank + " of " + size + ": " + checks + " checks passed; "
                    + world.stats().totalCalls() + " calls");
        } finally {
            Mpi.finish();
        }
    }

    private static double reduce(ReduceOp op, int i, int size, int n, DType dt, DeviceStream stream,
                                 HostAllocator alloc) {
        double acc = switch (op) {
            case SUM, AVG -> 0;
            case MAX -> Double.NEGATIVE_INFINITY;
            case MIN -> Double.POSITIVE_INFINITY;
        };
        for (int r = 0; r < size; r++) {
            float[] v = values(r, n, op.ordinal());
            double x;
            try (Tensor t = tensor(alloc, dt, n, v)) {
                x = t.toFloatArray(stream)[i]; // the rank's input as rounded to its dtype
            }
            acc = switch (op) {
                case SUM, AVG -> acc + x;
                case MAX -> Math.max(acc, x);
                case MIN -> Math.min(acc, x);
            };
        }
        return op == ReduceOp.AVG ? acc / size : acc;
    }

    private static Tensor tensor(HostAllocator alloc, DType dt, int n, float[] values) {
        Tensor t = Tensor.allocate(alloc, dt, Shape.of(n), MemoryCategory.COMMUNICATION, "t", DeviceStream.cpu());
        if (dt == DType.INT32) {
            int[] ints = new int[n];
            for (int i = 0; i < n; i++) {
                ints[i] = (int) values[i];
            }
            t.copyFrom(ints, DeviceStream.cpu());
        } else {
            t.copyFrom(values, DeviceStream.cpu());
        }
        return t;
    }
}
