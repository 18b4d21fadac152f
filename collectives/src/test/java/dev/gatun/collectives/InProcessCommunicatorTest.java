package dev.gatun.collectives;

import dev.gatun.memory.Accountant;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.DeviceEvent;
import dev.gatun.memory.DeviceMemory;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HalfFloats;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import static dev.gatun.collectives.TestData.CPU;
import static dev.gatun.collectives.TestData.assertClose;
import static dev.gatun.collectives.TestData.assertUnwritten;
import static dev.gatun.collectives.TestData.input;
import static dev.gatun.collectives.TestData.inputs;
import static dev.gatun.collectives.TestData.inputsOf;
import static dev.gatun.collectives.TestData.poisoned;
import static dev.gatun.collectives.TestData.read;
import static dev.gatun.collectives.TestData.reduced;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every call of the in-process backend against float64 references computed from each rank's inputs. */
@Timeout(60)
class InProcessCommunicatorTest {
    private static final CommOptions OPTIONS = CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(10));
    /** 1, primes, and a count that no world size above 1 divides evenly into blocks. */
    private static final long[] COUNTS = {1, 7, 101, 1009};

    static Stream<Arguments> sizesAndDtypes() {
        return IntStream.rangeClosed(1, 8).boxed().flatMap(size ->
                Stream.of(DType.FP32, DType.BF16, DType.FP16, DType.INT32).map(dtype -> Arguments.of(size, dtype)));
    }

    @ParameterizedTest(name = "{0} ranks, {1}")
    @MethodSource("sizesAndDtypes")
    void everyCollectiveMatchesTheReference(int size, DType dtype) {
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(size, OPTIONS, comm -> {
                for (long n : COUNTS) {
                    allReduces(comm, allocator, dtype, n);
                    reduceScatters(comm, allocator, dtype, n);
                    allGathers(comm, allocator, dtype, n);
                    broadcasts(comm, allocator, dtype, n);
                    reduces(comm, allocator, dtype, n);
                    comm.barrier();
                }
                return null;
            });
        }
    }

    private static void allReduces(Communicator comm, HostAllocator allocator, DType dtype, long n) {
        int r = comm.rank();
        for (ReduceOp op : ReduceOp.values()) {
            for (boolean inPlace : new boolean[] {true, false}) {
                long seed = seed(1, op.ordinal(), inPlace, n);
                String what = "allReduce " + op + (inPlace ? " in place" : "") + " n=" + n + " rank " + r;
                try (Tensor in = inputs(allocator, dtype, n, seed, r, 0);
                     Tensor out = poisoned(allocator, dtype, n, r)) {
                    Tensor target = inPlace ? in : out;
                    comm.allReduce(in, target, op);
                    assertClose(dtype, reduced(dtype, op, comm.size(), seed, 0, n), read(target), what);
                    if (!inPlace) {
                        assertArrayEquals(inputsOf(dtype, seed, r, 0, n), read(in), what + ": input changed");
                    }
                }
            }
        }
    }

    private static void reduceScatters(Communicator comm, HostAllocator allocator, DType dtype, long m) {
        int r = comm.rank();
        int size = comm.size();
        for (ReduceOp op : ReduceOp.values()) {
            for (boolean inPlace : new boolean[] {true, false}) {
                long seed = seed(2, op.ordinal(), inPlace, m);
                String what = "reduceScatter " + op + (inPlace ? " in place" : "") + " m=" + m + " rank " + r;
                try (Tensor in = inputs(allocator, dtype, size * m, seed, r, 0);
                     Tensor out = poisoned(allocator, dtype, m, r)) {
                    Tensor target = inPlace ? in.flat(r * m, m) : out;
                    comm.reduceScatter(in, target, op);
                    assertClose(dtype, reduced(dtype, op, size, seed, r * m, m), read(target), what);
                }
            }
        }
    }

    private static void allGathers(Communicator comm, HostAllocator allocator, DType dtype, long m) {
        int r = comm.rank();
        int size = comm.size();
        for (boolean inPlace : new boolean[] {true, false}) {
            long seed = seed(3, 0, inPlace, m);
            String what = "allGather" + (inPlace ? " in place" : "") + " m=" + m + " rank " + r;
            try (Tensor in = inputs(allocator, dtype, m, seed, r, 0);
                 Tensor out = poisoned(allocator, dtype, size * m, r)) {
                Tensor mine = in;
                if (inPlace) {
                    mine = out.flat(r * m, m);
                    mine.copyFrom(in, CPU);
                }
                comm.allGather(mine, out);
                double[] expected = new double[(int) (size * m)];
                for (int q = 0; q < size; q++) {
                    System.arraycopy(inputsOf(dtype, seed, q, 0, m), 0, expected, (int) (q * m), (int) m);
                }
                assertArrayEquals(expected, read(out), what);
            }
        }
    }

    private static void broadcasts(Communicator comm, HostAllocator allocator, DType dtype, long n) {
        int r = comm.rank();
        for (int root : new int[] {0, comm.size() - 1}) {
            for (boolean inPlace : new boolean[] {true, false}) {
                long seed = seed(4, root, inPlace, n);
                String what = "broadcast root " + root + (inPlace ? " in place" : "") + " n=" + n + " rank " + r;
                try (Tensor in = inputs(allocator, dtype, n, seed, r, 0);
                     Tensor out = poisoned(allocator, dtype, n, r)) {
                    Tensor target = inPlace ? in : out;
                    comm.broadcast(in, target, root);
                    assertArrayEquals(inputsOf(dtype, seed, root, 0, n), read(target), what);
                }
            }
        }
    }

    private static void reduces(Communicator comm, HostAllocator allocator, DType dtype, long n) {
        int r = comm.rank();
        int root = comm.size() / 2;
        for (ReduceOp op : new ReduceOp[] {ReduceOp.SUM, ReduceOp.MIN}) {
            for (boolean inPlace : new boolean[] {true, false}) {
                long seed = seed(5, op.ordinal(), inPlace, n);
                String what = "reduce " + op + " root " + root + (inPlace ? " in place" : "") + " n=" + n
                        + " rank " + r;
                try (Tensor in = inputs(allocator, dtype, n, seed, r, 0);
                     Tensor out = poisoned(allocator, dtype, n, r)) {
                    Tensor target = inPlace ? in : out;
                    comm.reduce(in, target, op, root);
                    if (r == root) {
                        assertClose(dtype, reduced(dtype, op, comm.size(), seed, 0, n), read(target), what);
                    } else if (inPlace) {
                        assertArrayEquals(inputsOf(dtype, seed, r, 0, n), read(in), what + ": non-root changed");
                    } else {
                        assertUnwritten(out, what + ": non-root output");
                    }
                }
            }
        }
    }

    private static long seed(int op, int variant, boolean inPlace, long n) {
        return ((op * 31L + variant) * 2 + (inPlace ? 1 : 0)) * 10_007 + n;
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 8})
    void sendsAndRecvsAroundARingInAGroupDoNotDeadlock(int size) {
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(size, OPTIONS, comm -> {
                int r = comm.rank();
                int next = (r + 1) % size;
                int prev = (r + size - 1) % size;
                try (Tensor mine = inputs(allocator, DType.FP32, 101, 11, r, 0);
                     Tensor got = poisoned(allocator, DType.FP32, 101, r)) {
                    // Receiving first on every rank would deadlock with blocking calls outside a group.
                    comm.group(() -> {
                        comm.recv(got, prev);
                        comm.send(mine, next);
                    });
                    assertArrayEquals(inputsOf(DType.FP32, 11, prev, 0, 101), read(got));
                }
                return null;
            });
        }
    }

    @Test
    void blockingSendsAndRecvsMatchInCallOrderBetweenTwoRanks() {
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(4, OPTIONS, comm -> {
                int r = comm.rank();
                int peer = r ^ 1;
                try (Tensor a = inputs(allocator, DType.BF16, 7, 1, r, 0);
                     Tensor b = inputs(allocator, DType.BF16, 7, 2, r, 0);
                     Tensor gotA = poisoned(allocator, DType.BF16, 7, r);
                     Tensor gotB = poisoned(allocator, DType.BF16, 7, r)) {
                    if (r % 2 == 0) {
                        comm.send(a, peer);
                        comm.send(b, peer);
                        comm.recv(gotA, peer);
                        comm.recv(gotB, peer);
                    } else {
                        comm.recv(gotA, peer);
                        comm.recv(gotB, peer);
                        comm.send(a, peer);
                        comm.send(b, peer);
                    }
                    assertArrayEquals(inputsOf(DType.BF16, 1, peer, 0, 7), read(gotA));
                    assertArrayEquals(inputsOf(DType.BF16, 2, peer, 0, 7), read(gotB));
                }
                return null;
            });
        }
    }

    @Test
    void asynchronousCallsReturnAtOnceAndOverlapComputation() {
        try (HostAllocator allocator = new HostAllocator()) {
            CountDownLatch othersSubmitted = new CountDownLatch(3);
            InProcessWorld.run(4, OPTIONS, comm -> {
                int r = comm.rank();
                List<Tensor> buffers = new ArrayList<>();
                List<Work> works = new ArrayList<>();
                try {
                    if (r == 1) {
                        // Rank 1 calls only once the others' first calls have returned: they cannot be done.
                        assertTrue(othersSubmitted.await(10, TimeUnit.SECONDS));
                    }
                    for (int k = 0; k < 3; k++) {
                        Tensor t = inputs(allocator, DType.FP32, 1009, 100 + k, r, 0);
                        buffers.add(t);
                        works.add(comm.allReduceAsync(t, t, ReduceOp.SUM));
                        if (k == 0 && r != 1) {
                            assertFalse(works.get(0).isDone(), "rank 1 has not called yet");
                            othersSubmitted.countDown();
                        }
                    }
                    Tensor scattered = poisoned(allocator, DType.FP32, 7, r);
                    buffers.add(scattered);
                    Tensor whole = inputs(allocator, DType.FP32, 4 * 7, 200, r, 0);
                    buffers.add(whole);
                    works.add(comm.reduceScatterAsync(whole, scattered, ReduceOp.MAX));
                    // Computation meanwhile, on the rank's own thread.
                    Tensor local = inputs(allocator, DType.FP32, 1009, 300, r, 0);
                    buffers.add(local);
                    local.fill(r, CPU);
                    // A blocking call after asynchronous ones runs after them.
                    Tensor sync = inputs(allocator, DType.FP32, 5, 400, r, 0);
                    buffers.add(sync);
                    comm.allReduce(sync, ReduceOp.SUM);
                    assertTrue(works.stream().allMatch(Work::isDone), "earlier asynchronous calls completed first");
                    works.forEach(Work::await);
                    Tensor late = inputs(allocator, DType.FP32, 11, 500, r, 0);
                    buffers.add(late);
                    Work lateWork = comm.allReduceAsync(late, late, ReduceOp.SUM);
                    lateWork.waitOnStream(); // calls complete on the host here: this waits like await()
                    assertTrue(lateWork.isDone(), "waitOnStream on the CPU returns once the call is done");
                    assertClose(DType.FP32, reduced(DType.FP32, ReduceOp.SUM, 4, 500, 0, 11), read(late),
                            "async allReduce after waitOnStream");
                    for (int k = 0; k < 3; k++) {
                        assertClose(DType.FP32, reduced(DType.FP32, ReduceOp.SUM, 4, 100 + k, 0, 1009),
                                read(buffers.get(k)), "async allReduce " + k);
                    }
                    assertClose(DType.FP32, reduced(DType.FP32, ReduceOp.MAX, 4, 200, r * 7L, 7), read(scattered),
                            "async reduceScatter");
                    assertClose(DType.FP32, reduced(DType.FP32, ReduceOp.SUM, 4, 400, 0, 5), read(sync),
                            "sync allReduce after async ones");
                    List<Long> order = comm.recentCalls().stream()
                            .sorted(java.util.Comparator.comparingLong(CallRecord::endNanos))
                            .map(CallRecord::seq).toList();
                    assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L), order, "calls completed in call order");
                } finally {
                    buffers.forEach(Tensor::close);
                }
                return null;
            });
        }
    }

    @Test
    void anAsynchronousGroupCompletesItsWorks() {
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(3, OPTIONS, comm -> {
                int r = comm.rank();
                try (Tensor mine = inputs(allocator, DType.INT32, 64, 5, r, 0);
                     Tensor got = poisoned(allocator, DType.INT32, 64, r);
                     Tensor sum = inputs(allocator, DType.INT32, 64, 6, r, 0)) {
                    Work[] inner = new Work[1];
                    Work group = comm.groupAsync(() -> {
                        comm.send(mine, (r + 1) % 3);
                        comm.recv(got, (r + 2) % 3);
                        inner[0] = comm.allReduceAsync(sum, sum, ReduceOp.SUM);
                    });
                    group.await();
                    assertTrue(inner[0].isDone());
                    assertArrayEquals(inputsOf(DType.INT32, 5, (r + 2) % 3, 0, 64), read(got));
                    assertArrayEquals(reduced(DType.INT32, ReduceOp.SUM, 3, 6, 0, 64), read(sum));
                }
                return null;
            });
        }
    }

    @Test
    void reductionsSumInRankOrderInFp32AndRoundOnce() {
        int size = 5;
        int n = 1009;
        for (DType dtype : new DType[] {DType.FP32, DType.BF16, DType.FP16}) {
            for (ReduceOp op : new ReduceOp[] {ReduceOp.SUM, ReduceOp.AVG}) {
                float[] expected = new float[n];
                for (int i = 0; i < n; i++) {
                    float acc = (float) input(dtype, 9, 0, i);
                    for (int q = 1; q < size; q++) {
                        acc += (float) input(dtype, 9, q, i);
                    }
                    expected[i] = (float) TestData.roundTo(dtype, op == ReduceOp.AVG ? acc / size : acc);
                }
                try (HostAllocator allocator = new HostAllocator()) {
                    List<float[]> runs = new ArrayList<>();
                    for (int run = 0; run < 2; run++) {
                        runs.addAll(InProcessWorld.run(size, OPTIONS, comm -> {
                            try (Tensor t = inputs(allocator, dtype, n, 9, comm.rank(), 0)) {
                                comm.allReduce(t, op);
                                return t.toFloatArray(CPU);
                            }
                        }));
                    }
                    for (float[] result : runs) {
                        assertArrayEquals(expected, result, dtype + " " + op + ": bit for bit");
                    }
                }
            }
        }
    }

    @Test
    void statsCountTheSizeOfEachCall() {
        try (HostAllocator allocator = new HostAllocator()) {
            List<CommStats> stats = InProcessWorld.run(4, OPTIONS, comm -> {
                int r = comm.rank();
                try (Tensor a = inputs(allocator, DType.FP32, 1009, 1, r, 0);
                     Tensor whole = inputs(allocator, DType.BF16, 4 * 7, 2, r, 0);
                     Tensor shard = poisoned(allocator, DType.BF16, 7, r);
                     Tensor small = inputs(allocator, DType.INT32, 7, 3, r, 0);
                     Tensor gathered = poisoned(allocator, DType.INT32, 4 * 7, r);
                     Tensor half = inputs(allocator, DType.FP16, 101, 4, r, 0);
                     Tensor p2pOut = inputs(allocator, DType.FP32, 3, 5, r, 0);
                     Tensor p2pIn = poisoned(allocator, DType.FP32, 3, r)) {
                    for (int k = 0; k < 3; k++) {
                        comm.allReduce(a, ReduceOp.SUM);
                    }
                    comm.reduceScatter(whole, shard, ReduceOp.SUM);
                    comm.allGather(small, gathered);
                    comm.broadcast(half, half, 0);
                    comm.reduce(a.flat(0, 5), a.flat(0, 5), ReduceOp.SUM, 1);
                    comm.barrier();
                    comm.group(() -> {
                        comm.send(p2pOut, (r + 1) % 4);
                        comm.recv(p2pIn, (r + 3) % 4);
                    });
                }
                return comm.stats();
            });
            for (CommStats s : stats) {
                assertEquals(3, s.calls(OpType.ALL_REDUCE));
                assertEquals(3 * 4 * 1009, s.bytes(OpType.ALL_REDUCE), "all-reduce: 4n bytes per fp32 call");
                assertEquals(4 * 7 * 2, s.bytes(OpType.REDUCE_SCATTER), "reduce-scatter: the whole input");
                assertEquals(4 * 7 * 4, s.bytes(OpType.ALL_GATHER), "all-gather: the whole output");
                assertEquals(101 * 2, s.bytes(OpType.BROADCAST));
                assertEquals(5 * 4, s.bytes(OpType.REDUCE));
                assertEquals(1, s.calls(OpType.BARRIER));
                assertEquals(0, s.bytes(OpType.BARRIER));
                assertEquals(12, s.bytes(OpType.SEND));
                assertEquals(12, s.bytes(OpType.RECV));
                assertEquals(10, s.totalCalls());
            }
        }
    }

    @Test
    void everyCallIsRecordedWithItsSequenceNumberAndTimes() {
        try (HostAllocator allocator = new HostAllocator()) {
            List<List<CallRecord>> records = InProcessWorld.run(2, OPTIONS, comm -> {
                try (Tensor t = inputs(allocator, DType.FP16, 7, 1, comm.rank(), 0)) {
                    comm.allReduce(t, ReduceOp.MAX);
                    comm.broadcast(t, t, 1);
                    comm.barrier();
                }
                return comm.recentCalls();
            });
            for (List<CallRecord> calls : records) {
                assertEquals(List.of("allReduce(fp16 × 7, max)", "broadcast(fp16 × 7, root 1)", "barrier()"),
                        calls.stream().map(c -> c.call().toString()).toList());
                for (int k = 0; k < calls.size(); k++) {
                    CallRecord c = calls.get(k);
                    assertEquals(k, c.seq());
                    assertEquals(CallRecord.State.DONE, c.state());
                    assertTrue(c.issuedNanos() <= c.startNanos() && c.startNanos() <= c.endNanos(), c.toString());
                }
            }
        }
    }

    @Test
    void argumentErrorsAreRejectedBeforeAnythingIsIssued() {
        try (HostAllocator allocator = new HostAllocator();
             InProcessWorld world = new InProcessWorld(4, OPTIONS)) {
            Communicator comm = world.communicator(1);
            try (Tensor ten = poisoned(allocator, DType.FP32, 10, 1);
                 Tensor three = poisoned(allocator, DType.FP32, 3, 1);
                 Tensor bf = poisoned(allocator, DType.BF16, 10, 1)) {
                assertMessage("4 × 3 = 12", () -> comm.reduceScatter(ten, three, ReduceOp.SUM));
                assertMessage("4 × 10 = 40", () -> comm.allGather(ten, three));
                assertMessage("same dtype", () -> comm.allReduce(ten, bf, ReduceOp.SUM));
                assertMessage("as many", () -> comm.allReduce(ten, three, ReduceOp.SUM));
                assertMessage("peer 4 is outside [0, 4)", () -> comm.send(ten, 4));
                assertMessage("peer -1 is outside [0, 4)", () -> comm.recv(ten, -1));
                assertMessage("cannot send to or from itself", () -> comm.send(ten, 1));
                assertMessage("root 7 is outside [0, 4)", () -> comm.broadcast(ten, ten, 7));
                assertMessage("root -1 is outside [0, 4)", () -> comm.reduce(ten, ten, ReduceOp.SUM, -1));
                assertMessage("overlap", () -> comm.allReduce(ten.flat(0, 5), ten.flat(2, 5), ReduceOp.SUM));
                assertMessage("this rank's slice", () -> comm.allGather(ten.flat(0, 2), ten.flat(0, 8)));
                assertMessage("color must be >= 0", () -> comm.split(-1, 0, "bad"));
            }
            assertEquals(0, comm.stats().totalCalls(), "nothing was issued");
            assertTrue(comm.recentCalls().isEmpty());
        }
    }

    private static void assertMessage(String expected, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().contains(expected), "'" + e.getMessage() + "' should say '" + expected + "'");
    }

    @Test
    void cudaTensorsAreRejectedByTheCpuBackend() {
        Device gpu = Device.cuda(0);
        DeviceMemory memory = new DeviceMemory() {
            private long next = 0x7000_0000_0000L;

            @Override
            public Device device() {
                return gpu;
            }

            @Override
            public synchronized OptionalLong malloc(long bytes) {
                long address = next;
                next += bytes + (1 << 20);
                return OptionalLong.of(address);
            }

            @Override
            public void free(long address) {
            }

            @Override
            public long freeBytes() {
                return 1L << 30;
            }

            @Override
            public long totalBytes() {
                return 1L << 30;
            }
        };
        DeviceStream stream = new DeviceStream() {
            @Override
            public Device device() {
                return gpu;
            }

            @Override
            public DeviceEvent record() {
                return CPU.record();
            }

            @Override
            public void waitFor(DeviceEvent event) {
            }

            @Override
            public void synchronize() {
            }

            @Override
            public void close() {
            }
        };
        try (CachingDeviceAllocator allocator = new CachingDeviceAllocator(memory, new Accountant(), false);
             InProcessWorld world = new InProcessWorld(2, OPTIONS);
             Tensor onGpu = Tensor.allocate(allocator, DType.FP32, Shape.of(7), MemoryCategory.GRADIENTS, "grads",
                     stream)) {
            Communicator comm = world.communicator(0);
            assertMessage("is on cuda:0, but the in-process communicator works on host memory",
                    () -> comm.allReduce(onGpu, ReduceOp.SUM));
            assertEquals(0, comm.stats().totalCalls());
        }
    }

    @Test
    void int64ValuesBeyondInt32AreReducedAndGatheredExactly() {
        long big = 1L << 40;
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(3, OPTIONS, comm -> {
                int r = comm.rank();
                try (Tensor t = Tensor.allocate(allocator, DType.INT64, Shape.of(5), MemoryCategory.COMMUNICATION,
                        "t", CPU);
                     Tensor all = Tensor.allocate(allocator, DType.INT64, Shape.of(15), MemoryCategory.COMMUNICATION,
                             "all", CPU)) {
                    t.copyFrom(LongStream.range(0, 5).map(i -> (r + 1) * big + i).toArray(), CPU);
                    comm.allGather(t, all);
                    comm.allReduce(t, ReduceOp.MAX);
                    assertArrayEquals(LongStream.range(0, 15).map(i -> (i / 5 + 1) * big + i % 5).toArray(),
                            all.toLongArray(CPU));
                    assertArrayEquals(LongStream.range(0, 5).map(i -> 3 * big + i).toArray(), t.toLongArray(CPU));
                }
                return null;
            });
        }
    }

    @Test
    void halfFloatResultsAreRoundedToNearestEven() {
        // 1 + 2^-8 is halfway between two bf16 values; the sum rounds to even (1.0), once.
        float halfway = 1f + 0x1p-8f;
        try (HostAllocator allocator = new HostAllocator()) {
            List<Float> sums = InProcessWorld.run(2, OPTIONS, comm -> {
                try (Tensor t = Tensor.allocate(allocator, DType.BF16, Shape.of(1), MemoryCategory.COMMUNICATION,
                        "t", CPU)) {
                    t.copyFrom(new float[] {comm.rank() == 0 ? 1f : 0x1p-8f}, CPU);
                    comm.allReduce(t, ReduceOp.SUM);
                    return t.toFloatArray(CPU)[0];
                }
            });
            float expected = HalfFloats.bf16BitsToFloat(HalfFloats.floatToBf16Bits(halfway));
            assertEquals(List.of(expected, expected), sums);
            assertEquals(1f, expected);
        }
    }
}
