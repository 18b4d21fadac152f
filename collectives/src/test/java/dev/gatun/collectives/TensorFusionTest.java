package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static dev.gatun.collectives.TestData.assertClose;
import static dev.gatun.collectives.TestData.inputs;
import static dev.gatun.collectives.TestData.read;
import static dev.gatun.collectives.TestData.reduced;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Fused all-reduce against float64 references of the per-tensor all-reduce, and its call count. */
@Timeout(60)
class TensorFusionTest {
    private static final CommOptions OPTIONS = CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(10));
    /** 256 B: 64 fp32 or 128 bf16 elements. */
    private static final long THRESHOLD = 256;
    private static final long[] NUMELS = {3, 5, 7, 11, 13, 17, 100, 1, 2, 9, 20, 60, 10};
    private static final DType[] DTYPES = {DType.FP32, DType.FP32, DType.FP32, DType.FP32, DType.FP32, DType.FP32,
            DType.FP32, DType.FP32, DType.FP32, DType.BF16, DType.BF16, DType.FP32, DType.FP32};
    /**
     * [3..17] (56 ≤ 64), [100] alone (400 B > 256 B), [1, 2] (then bf16), bf16 [9, 20], [60] (70 > 64), [10].
     */
    private static final int EXPECTED_CALLS = 6;

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {1, 2, 3, 4})
    void fusedEqualsPerTensorAllReduceWithFewerCalls(int size) {
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(size, OPTIONS, comm -> {
                int r = comm.rank();
                for (ReduceOp op : new ReduceOp[] {ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX}) {
                    List<Tensor> tensors = new ArrayList<>();
                    try (TensorFusion fusion = new TensorFusion(comm, allocator, THRESHOLD)) {
                        for (int i = 0; i < NUMELS.length; i++) {
                            tensors.add(inputs(allocator, DTYPES[i], NUMELS[i], 50L * op.ordinal() + i, r, 0));
                        }
                        CommStats before = comm.stats();
                        fusion.allReduce(tensors, op);
                        CommStats calls = comm.stats().minus(before);
                        assertEquals(EXPECTED_CALLS, calls.calls(OpType.ALL_REDUCE));
                        assertEquals(EXPECTED_CALLS, calls.totalCalls());
                        for (int i = 0; i < NUMELS.length; i++) {
                            assertClose(DTYPES[i], reduced(DTYPES[i], op, size, 50L * op.ordinal() + i, 0, NUMELS[i]),
                                    read(tensors.get(i)), op + " tensor " + i + " rank " + r);
                        }
                    } finally {
                        tensors.forEach(Tensor::close);
                    }
                }
                return null;
            });
        }
    }
}
