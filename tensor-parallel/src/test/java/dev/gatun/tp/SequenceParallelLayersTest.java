package dev.gatun.tp;

import dev.gatun.collectives.CommStats;
import dev.gatun.collectives.OpType;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The MLP and attention with sequence parallelism against the same layers without it, on each rank of tp 2 and 4:
 * from this rank's token rows of {@code X} they give this rank's rows of {@code Y} and of {@code dX}, and the same
 * parameter gradients; and the tp communication per micro-batch is Megatron's: forward one all-gather and one
 * reduce-scatter of {@code N·C} values where the all-reduce version has one all-reduce (on a ring the same bus volume,
 * {@code 2·(tp−1)/tp·S}), backward the same pair plus the all-gather of the column-parallel input again, which keeps
 * only its rows alive between forward and backward (the paper overlaps it with the {@code dX} GEMM).
 */
@Timeout(60)
class SequenceParallelLayersTest {
    private static final int B = 2;
    private static final int T = 4;
    private static final int H = 8;

    /** A block under test: forward, backward and its parameters, with or without sequence parallelism. */
    private record Block(Pass forward, Pass backward, List<Parameter> parameters, AutoCloseable layer)
            implements AutoCloseable {
        @Override
        public void close() throws Exception {
            layer.close();
        }
    }

    private interface Pass {
        Tensor run(int microBatch, Tensor t);
    }

    private interface Factory {
        Block create(TpTesting.Rank rank, boolean sequenceParallel);
    }

    static Stream<Arguments> blocks() {
        Factory mlp = (r, sp) -> {
            var l = new ParallelMlp(H, r.mappings(), r.backend(), r.allocator(), "mlp", 5, sp);
            return new Block(l::forward, l::backward, List.of(l.fc().weight(), l.fc().bias(), l.proj().weight(),
                    l.proj().bias()), l);
        };
        Factory attention = (r, sp) -> {
            var l = new ParallelAttention(H, 4, r.mappings(), r.backend(), r.allocator(), "attn", 6, false,
                    sp ? T : 0);
            return new Block(l::forward, l::backward, List.of(l.qkv().weight(), l.qkv().bias(), l.proj().weight(),
                    l.proj().bias()), l);
        };
        return Stream.of(2, 4).flatMap(tp -> Stream.of(Arguments.of("mlp", tp, mlp),
                Arguments.of("attention", tp, attention)));
    }

    @ParameterizedTest(name = "{0} tp {1}")
    @MethodSource("blocks")
    void rowsInRowsOutAsWithoutItAndMegatronsCommunication(String what, int tp, Factory factory) {
        int n = B * T;
        int rows = n / tp;
        float[] x = TpTesting.random("x", n * H);
        float[] dy = TpTesting.random("dy", n * H);
        TpTesting.run(tp, rank -> {
            int from = rank.rank() * rows * H;
            float[] xRows = Arrays.copyOfRange(x, from, from + rows * H);
            float[] dyRows = Arrays.copyOfRange(dy, from, from + rows * H);
            try (Block whole = factory.create(rank, false); Block split = factory.create(rank, true);
                 Tensor xw = rank.tensor("x", x, B, T, H); Tensor xs = rank.tensor("x", xRows, rows, H);
                 Tensor dyw = rank.tensor("dy", dy, B, T, H); Tensor dys = rank.tensor("dy", dyRows, rows, H)) {
                CommStats start = rank.comm().stats();
                float[] yWhole;
                float[] dxWhole;
                try (Tensor y = whole.forward().run(0, xw)) {
                    yWhole = rank.read(y);
                }
                CommStats forwardWhole = rank.comm().stats().minus(start);
                try (Tensor dx = whole.backward().run(0, dyw)) {
                    dxWhole = rank.read(dx);
                }
                CommStats backwardWhole = rank.comm().stats().minus(start).minus(forwardWhole);
                CommStats mid = rank.comm().stats();
                try (Tensor y = split.forward().run(0, xs)) {
                    assertEquals(List.of((long) rows, (long) H), Arrays.stream(y.shape().dims()).boxed().toList());
                    TpTesting.assertClose(what + " y rows", rank.read(y),
                            Arrays.copyOfRange(yWhole, from, from + rows * H));
                }
                CommStats forwardSplit = rank.comm().stats().minus(mid);
                try (Tensor dx = split.backward().run(0, dys)) {
                    TpTesting.assertClose(what + " dx rows", rank.read(dx),
                            Arrays.copyOfRange(dxWhole, from, from + rows * H));
                }
                CommStats backwardSplit = rank.comm().stats().minus(mid).minus(forwardSplit);
                for (int i = 0; i < whole.parameters().size(); i++) {
                    TpTesting.assertClose(what + " gradient of " + whole.parameters().get(i).name(),
                            rank.read(split.parameters().get(i).grad()), rank.read(whole.parameters().get(i).grad()));
                }
                long s = 4L * n * H; // the size of one [N, C] fp32 tensor
                assertEquals(1, forwardWhole.calls(OpType.ALL_REDUCE));
                assertEquals(s, forwardWhole.bytes(OpType.ALL_REDUCE));
                assertEquals(s, backwardWhole.bytes(OpType.ALL_REDUCE));
                assertEquals(forwardWhole.totalBytes(), forwardWhole.bytes(OpType.ALL_REDUCE));
                assertEquals(0, forwardSplit.calls(OpType.ALL_REDUCE));
                assertEquals(s, forwardSplit.bytes(OpType.ALL_GATHER), "forward: the input all-gathered once");
                assertEquals(s, forwardSplit.bytes(OpType.REDUCE_SCATTER), "forward: the output reduce-scattered");
                assertEquals(2 * s, forwardSplit.totalBytes());
                assertEquals(0, backwardSplit.calls(OpType.ALL_REDUCE));
                assertEquals(s, backwardSplit.bytes(OpType.REDUCE_SCATTER), "backward: dX reduce-scattered");
                assertEquals(2 * s, backwardSplit.bytes(OpType.ALL_GATHER), "backward: dY, and X again");
                // ring bus volumes: all-reduce 2(t-1)/t S, all-gather and reduce-scatter (t-1)/t S each
                double f = (tp - 1.0) / tp;
                assertEquals(2 * f * forwardWhole.bytes(OpType.ALL_REDUCE), f * forwardSplit.totalBytes(), 1e-9);
                assertEquals(2 * f * backwardWhole.bytes(OpType.ALL_REDUCE) + f * s, f * backwardSplit.totalBytes(),
                        1e-9);
            }
            return null;
        });
    }
}
