package dev.gatun.tp;

import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The split backward of every tensor-parallel layer (zero-bubble schedules): on each rank of tp = 1, 2 and 4, the
 * input halves of two micro-batches then their weight halves ({@code I0 I1 W0 W1}, as ZB-H1 orders them) give the
 * input gradients and every parameter gradient of the whole backward ({@code B0 B1}) on an identical layer, bit for
 * bit, with and without sequence parallelism (the input rows of the column-parallel layers and the output rows of
 * the row-parallel ones split over the group); a weight half with no input half before it is refused by name, and a layer closed between the halves leaks
 * nothing (the allocator ends with nothing live).
 */
@Timeout(60)
class SplitBackwardTest {
    private static final int B = 2;
    private static final int T = 5;
    private static final int H = 8;

    /** A tensor in, a tensor out, for a micro-batch. */
    private interface Pass {
        Tensor run(int microBatch, Tensor t);
    }

    /** A layer under test: its passes, parameters and the features of its input on a rank (its last dimension). */
    private record Unit(Pass forward, Pass backward, Pass backwardInput, IntConsumer backwardWeight,
                        List<Parameter> parameters, int inputFeatures, AutoCloseable layer) implements AutoCloseable {
        @Override
        public void close() throws Exception {
            layer.close();
        }
    }

    private interface Factory {
        Unit create(TpTesting.Rank rank);
    }

    static Stream<Arguments> layers() {
        Factory column = r -> column(r, false);
        Factory gathered = r -> column(r, true);
        Factory row = SplitBackwardTest::row;
        Factory mlp = SplitBackwardTest::mlp;
        Factory attention = r -> attention(r, false);
        Factory selective = r -> attention(r, true);
        Factory columnSp = r -> {
            var l = ColumnParallelLinear.sequenceParallel(H, 12, r.mappings(), r.backend(), r.allocator(), "col", 3);
            return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight,
                    List.of(l.weight(), l.bias()), H, l);
        };
        Factory rowSp = r -> {
            var l = new RowParallelLinear(12, H, r.mappings(), r.backend(), r.allocator(), "row", 4, true);
            return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight,
                    List.of(l.weight(), l.bias()), 12 / r.tp(), l);
        };
        Factory mlpSp = r -> {
            var l = new ParallelMlp(H, r.mappings(), r.backend(), r.allocator(), "mlp", 5, true);
            return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight,
                    List.of(l.fc().weight(), l.fc().bias(), l.proj().weight(), l.proj().bias()), H, l);
        };
        Factory attentionSp = r -> {
            var l = new ParallelAttention(H, 4, r.mappings(), r.backend(), r.allocator(), "attn", 6, false, T);
            return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight,
                    List.of(l.qkv().weight(), l.qkv().bias(), l.proj().weight(), l.proj().bias()), H, l);
        };
        Factory gqa = r -> {
            var l = new GroupedQueryAttention(H, 4, 2, new dev.gatun.ops.RotaryFrequencies(2, 10_000, null), T,
                    r.mappings(), r.backend(), r.allocator(), "gqa", 7, 0, false);
            return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight,
                    List.of(l.qkv().weight(), l.proj().weight()), H, l);
        };
        Factory gqaSelective = r -> {
            var l = new GroupedQueryAttention(H, 4, 2, new dev.gatun.ops.RotaryFrequencies(2, 10_000, null), T,
                    r.mappings(), r.backend(), r.allocator(), "gqa", 7, 0, true);
            return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight,
                    List.of(l.qkv().weight(), l.proj().weight()), H, l);
        };
        Factory swiglu = r -> {
            var l = new SwiGluMlp(H, 12, r.mappings(), r.backend(), r.allocator(), "swiglu", 8);
            return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight,
                    List.of(l.gateUp().weight(), l.down().weight()), H, l);
        };
        List<Arguments> all = new ArrayList<>();
        for (int tp : new int[] {1, 2}) { // the grouped-query attention: tp divides its 2 key/value heads
            all.addAll(List.of(Arguments.of("grouped-query attention", tp, gqa),
                    Arguments.of("grouped-query attention, probabilities recomputed", tp, gqaSelective),
                    Arguments.of("swiglu mlp", tp, swiglu)));
        }
        all.add(Arguments.of("swiglu mlp", 4, swiglu));
        for (int tp : new int[] {1, 2, 4}) {
            all.addAll(List.of(Arguments.of("column", tp, column), Arguments.of("column, gathered output", tp, gathered),
                    Arguments.of("row", tp, row), Arguments.of("mlp", tp, mlp),
                    Arguments.of("attention", tp, attention),
                    Arguments.of("attention, probabilities recomputed", tp, selective)));
        }
        for (int tp : new int[] {2, 4}) { // sequence parallel: B·T = 10 rows, split over tp where they are the output
            all.addAll(List.of(Arguments.of("column, sequence parallel", tp, columnSp),
                    Arguments.of("mlp, sequence parallel", tp, mlpSp),
                    Arguments.of("attention, sequence parallel", tp, attentionSp)));
        }
        all.add(Arguments.of("row, sequence parallel", 2, rowSp));
        return all.stream();
    }

    @ParameterizedTest(name = "{0} tp {1}")
    @MethodSource("layers")
    void inputThenWeightHalvesEqualTheWholeBackwardBitForBit(String what, int tp, Factory factory) {
        TpTesting.run(tp, rank -> {
            try (Unit whole = factory.create(rank); Unit split = factory.create(rank)) {
                int in = whole.inputFeatures();
                Tensor[] xw = new Tensor[2];
                Tensor[] xs = new Tensor[2];
                Tensor[] dys = new Tensor[2];
                float[][] dyValues = new float[2][];
                long[] dyShape = null;
                for (int mb = 0; mb < 2; mb++) {
                    float[] x = TpTesting.random("x" + mb + "/" + rank.rank(), B * T * in);
                    xw[mb] = rank.tensor("x", x, B, T, in);
                    xs[mb] = rank.tensor("x", x, B, T, in);
                    try (Tensor y = whole.forward().run(mb, xw[mb]); Tensor y2 = split.forward().run(mb, xs[mb])) {
                        assertArrayEquals(rank.read(y), rank.read(y2), what + ": forward");
                        dyShape = y.shape().dims();
                        dyValues[mb] = TpTesting.random("dy" + mb + "/" + rank.rank(), (int) y.numel());
                    }
                }
                float[][] dxWhole = new float[2][];
                for (int mb = 0; mb < 2; mb++) {
                    try (Tensor dy = rank.tensor("dy", dyValues[mb], dyShape); Tensor dx = whole.backward().run(mb, dy)) {
                        dxWhole[mb] = rank.read(dx);
                    }
                }
                for (int mb = 0; mb < 2; mb++) {
                    dys[mb] = rank.tensor("dy", dyValues[mb], dyShape);
                    try (Tensor dx = split.backwardInput().run(mb, dys[mb])) {
                        assertBits(what + ": dx of micro-batch " + mb, dxWhole[mb], rank.read(dx));
                    }
                }
                for (int mb = 0; mb < 2; mb++) {
                    split.backwardWeight().accept(mb);
                }
                List<Parameter> a = whole.parameters();
                List<Parameter> b = split.parameters();
                for (int i = 0; i < a.size(); i++) {
                    assertBits(what + ": gradient of " + a.get(i).name(), rank.read(a.get(i).grad()),
                            rank.read(b.get(i).grad()));
                }
                var e = assertThrows(IllegalStateException.class, () -> split.backwardWeight().accept(0));
                assertEquals(true, e.getMessage().contains("no input gradient of micro-batch 0 waits in"),
                        e.getMessage());
                for (int mb = 0; mb < 2; mb++) {
                    xw[mb].close();
                    xs[mb].close();
                    dys[mb].close();
                }
            }
            return null;
        });
    }

    @ParameterizedTest(name = "{0} tp {1}")
    @MethodSource("layers")
    void aLayerClosedBetweenTheHalvesLeaksNothing(String what, int tp, Factory factory) {
        TpTesting.run(tp, rank -> {
            Tensor x;
            Tensor dy;
            try (Unit unit = factory.create(rank)) {
                int in = unit.inputFeatures();
                x = rank.tensor("x", TpTesting.random("x", B * T * in), B, T, in);
                try (Tensor y = unit.forward().run(0, x)) {
                    dy = rank.tensor("dy", TpTesting.random("dy", (int) y.numel()), y.shape().dims());
                }
                unit.backwardInput().run(0, dy).close();
            }
            x.close();
            dy.close();
            return null; // TpTesting's allocator refuses to close with anything live
        });
    }

    private static void assertBits(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError(what + "[" + i + "]: " + expected[i] + " vs " + actual[i]);
            }
        }
    }

    private static Unit column(TpTesting.Rank r, boolean gatherOutput) {
        var l = new ColumnParallelLinear(H, 12, r.mappings(), r.backend(), r.allocator(), "col", 3, gatherOutput);
        return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight, List.of(l.weight(), l.bias()),
                H, l);
    }

    private static Unit row(TpTesting.Rank r) {
        var l = new RowParallelLinear(12, H, r.mappings(), r.backend(), r.allocator(), "row", 4);
        return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight, List.of(l.weight(), l.bias()),
                12 / r.tp(), l);
    }

    private static Unit mlp(TpTesting.Rank r) {
        var l = new ParallelMlp(H, r.mappings(), r.backend(), r.allocator(), "mlp", 5);
        return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight,
                List.of(l.fc().weight(), l.fc().bias(), l.proj().weight(), l.proj().bias()), H, l);
    }

    private static Unit attention(TpTesting.Rank r, boolean recomputeCore) {
        var l = new ParallelAttention(H, 4, r.mappings(), r.backend(), r.allocator(), "attn", 6, recomputeCore);
        return new Unit(l::forward, l::backward, l::backwardInput, l::backwardWeight,
                List.of(l.qkv().weight(), l.qkv().bias(), l.proj().weight(), l.proj().bias()), H, l);
    }
}
