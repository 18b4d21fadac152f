package dev.gatun.collectives;

import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.stream.Stream;

import static dev.gatun.collectives.TestData.assertClose;
import static dev.gatun.collectives.TestData.inputs;
import static dev.gatun.collectives.TestData.read;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Hierarchical all-reduce against the flat all-reduce and float64 references. */
@Timeout(60)
class HierarchicalAllReduceTest {
    private static final CommOptions OPTIONS = CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(10));
    /** Divisible and not by 2 and 4. */
    private static final long[] COUNTS = {1, 7, 8, 101, 1009};

    static Stream<Arguments> meshes() {
        int[][] shapes = {{2, 2}, {2, 4}, {4, 2}, {1, 4}, {4, 1}, {1, 1}, {3, 2}};
        return Stream.of(shapes).flatMap(s -> Stream.of(DType.FP32, DType.BF16)
                .map(d -> Arguments.of(s[0], s[1], d)));
    }

    @ParameterizedTest(name = "{0} nodes x {1} gpus, {2}")
    @MethodSource("meshes")
    void equalsTheFlatAllReduce(int nodes, int gpusPerNode, DType dtype) {
        int size = nodes * gpusPerNode;
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(size, OPTIONS, world -> {
                int r = world.rank();
                try (HierarchicalAllReduce hier = new HierarchicalAllReduce(world, gpusPerNode, allocator)) {
                    assertEquals(gpusPerNode, hier.intraNode().size());
                    assertEquals(r % gpusPerNode, hier.intraNode().rank());
                    assertEquals(nodes, hier.interNode().size());
                    assertEquals(r / gpusPerNode, hier.interNode().rank());
                    for (ReduceOp op : new ReduceOp[] {ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX}) {
                        for (long n : COUNTS) {
                            long seed = 31L * op.ordinal() + n;
                            String what = op + " n=" + n + " rank " + r;
                            try (Tensor t = inputs(allocator, dtype, n, seed, r, 0);
                                 Tensor flat = inputs(allocator, dtype, n, seed, r, 0)) {
                                hier.allReduce(t, op);
                                world.allReduce(flat, op);
                                assertClose(dtype, reference(dtype, op, nodes, gpusPerNode, seed, n), read(t), what);
                                if (dtype == DType.FP32) {
                                    assertClose(dtype, read(flat), read(t), what + " vs flat");
                                }
                            }
                        }
                    }
                }
                return null;
            });
        }
    }

    /**
     * The float64 reference with the intermediate rounding to {@code dtype} that the node-level result goes through
     * (for bf16 it differs from the flat reference by up to one bf16 ulp of the node sums, which near cancellation
     * exceeds the relative tolerance).
     */
    private static double[] reference(DType dtype, ReduceOp op, int nodes, int g, long seed, long n) {
        double[] out = new double[(int) n];
        for (int i = 0; i < n; i++) {
            double total = 0;
            for (int node = 0; node < nodes; node++) {
                double acc = op == ReduceOp.MAX ? Double.NEGATIVE_INFINITY : 0;
                for (int l = 0; l < g; l++) {
                    double x = TestData.input(dtype, seed, node * g + l, i);
                    acc = op == ReduceOp.MAX ? Math.max(acc, x) : acc + x;
                }
                double nodeValue = TestData.roundTo(dtype, op == ReduceOp.AVG ? acc / g : acc);
                total = node == 0 ? nodeValue : op == ReduceOp.MAX ? Math.max(total, nodeValue) : total + nodeValue;
            }
            out[i] = op == ReduceOp.AVG ? total / nodes : total;
        }
        return out;
    }

    @Test
    void gpusPerNodeMustDivideTheWorld() {
        try (HostAllocator allocator = new HostAllocator()) {
            InProcessWorld.run(1, OPTIONS, world -> {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> new HierarchicalAllReduce(world, 2, allocator));
                assertEquals(true, e.getMessage().contains("gpusPerNode=2"), e.getMessage());
                return null;
            });
        }
    }
}
