package dev.gatun.collectives.nccl;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.NativeLibraries;
import dev.gatun.bindings.NativeLibrary;
import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.OpType;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.collectives.Work;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The NCCL communicator with one rank on one GPU: every operation runs through NCCL and gives the one-rank results.
 * Several ranks need several GPUs (NCCL does not put two ranks on one device); that is the scaling command's job.
 */
@Tag("gpu")
@Timeout(120)
class NcclCommunicatorGpuTest {
    private static final Device GPU = Device.cuda(0);

    @BeforeAll
    static void requireGpuAndNccl() {
        assumeTrue(Cuda.isAvailable(), () -> "no CUDA device: " + Cuda.unavailableReason());
        assumeTrue(NativeLibraries.isLoaded(NativeLibrary.NCCL),
                () -> "no NCCL: " + NativeLibraries.failure(NativeLibrary.NCCL).map(Throwable::getMessage).orElse(""));
    }

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    @Test
    void everyOperationOnOneRankGivesItsOwnData() {
        try (CudaStream stream = new CudaStream(GPU); CachingDeviceAllocator memory = CachingDeviceAllocator.cuda(GPU)) {
            NcclCommunicator comm = NcclCommunicator.initAll("world", List.of(stream),
                    CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(30))).getFirst();
            try (comm) {
                assertEquals(0, comm.rank());
                assertEquals(1, comm.size());
                for (DType dtype : new DType[]{DType.FP32, DType.BF16, DType.FP16}) {
                    float[] data = random(1009, dtype.ordinal());
                    try (Tensor in = tensor(memory, stream, dtype, 1009); Tensor out = tensor(memory, stream, dtype, 1009)) {
                        in.copyFrom(data, stream);
                        float[] expected = in.toFloatArray(stream);
                        for (ReduceOp op : ReduceOp.values()) {
                            out.fill(Float.NaN, stream);
                            comm.allReduce(in, out, op);
                            assertArrayEquals(expected, out.toFloatArray(stream), dtype + " " + op);
                        }
                        out.fill(Float.NaN, stream);
                        comm.reduceScatter(in, out, ReduceOp.SUM);
                        assertArrayEquals(expected, out.toFloatArray(stream));
                        out.fill(Float.NaN, stream);
                        comm.allGather(in, out);
                        assertArrayEquals(expected, out.toFloatArray(stream));
                        out.fill(Float.NaN, stream);
                        comm.broadcast(in, out, 0);
                        assertArrayEquals(expected, out.toFloatArray(stream));
                        out.fill(Float.NaN, stream);
                        comm.reduce(in, out, ReduceOp.MAX, 0);
                        assertArrayEquals(expected, out.toFloatArray(stream));
                        comm.allReduce(in, ReduceOp.SUM);
                        assertArrayEquals(expected, in.toFloatArray(stream));
                    }
                }
                try (Tensor ints = tensor(memory, stream, DType.INT32, 7)) {
                    ints.copyFrom(new int[]{1, -2, 3, -4, 5, -6, 7}, stream);
                    Work w = comm.allReduceAsync(ints, ints, ReduceOp.SUM);
                    w.await();
                    assertArrayEquals(new int[]{1, -2, 3, -4, 5, -6, 7}, ints.toIntArray(stream));
                    try (Tensor out = tensor(memory, stream, DType.INT32, 7)) {
                        out.copyFrom(new int[7], stream);
                        Work ordered = comm.allReduceAsync(ints, out, ReduceOp.MAX);
                        ordered.waitOnStream(); // the rank's stream waits for the call; the read below syncs it
                        assertArrayEquals(new int[]{1, -2, 3, -4, 5, -6, 7}, out.toIntArray(stream));
                    }
                }
                comm.barrier();
                assertEquals(1, comm.stats().calls(OpType.BARRIER));
                // five all-reduces of 1009 elements per dtype (4 + 2 + 2 bytes each), then two of 7 int32
                assertEquals(1009L * 5 * (4 + 2 + 2) + 2 * 7 * 4, comm.stats().bytes(OpType.ALL_REDUCE));
            }
        }
    }

    @Test
    void badCallsAreRejectedBeforeNccl() {
        try (CudaStream stream = new CudaStream(GPU); CachingDeviceAllocator memory = CachingDeviceAllocator.cuda(GPU)) {
            NcclCommunicator comm = NcclCommunicator.initAll("world", List.of(stream), CommOptions.DEFAULT).getFirst();
            try (comm; Tensor a = tensor(memory, stream, DType.FP32, 8)) {
                assertThrows(IllegalArgumentException.class, () -> comm.broadcast(a, a, 1));
                assertThrows(IllegalArgumentException.class, () -> comm.send(a, 0));
                assertEquals(0, comm.stats().totalCalls());
            }
        }
    }

    private static Tensor tensor(CachingDeviceAllocator memory, CudaStream stream, DType dtype, int n) {
        return Tensor.allocate(memory, dtype, Shape.of(n), MemoryCategory.COMMUNICATION, "t", stream);
    }
}
