package dev.gatun.tp;

import dev.gatun.collectives.OpType;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(30)
class RowParallelLinearTest {
    private static final int N = 10;
    private static final int IN = 24;
    private static final int OUT = 12;
    private static final long SEED = 11;

    /** Per rank: y0, y1, dx0, dx1 (this rank's input columns), dW (its columns), db. */
    static List<float[][]> run(int tp) {
        float[][] xs = {TpTesting.random("x0", N * IN), TpTesting.random("x1", N * IN)};
        float[][] dys = {TpTesting.random("dy0", N * OUT), TpTesting.random("dy1", N * OUT)};
        return TpTesting.run(tp, rank -> {
            try (var layer = new RowParallelLinear(IN, OUT, rank.mappings(), rank.backend(), rank.allocator(),
                    "proj", SEED)) {
                ParameterInit.fill(layer.bias().value(), SEED, "proj.bias", 0.5, i -> i, rank.backend().stream());
                int w = IN / tp;
                float[][] results = new float[6][];
                List<Tensor> inputs = new ArrayList<>();
                for (int mb = 0; mb < 2; mb++) {
                    Tensor x = rank.tensor("x", TpTesting.columns(xs[mb], N, IN, rank.rank() * w, w), N, w);
                    inputs.add(x);
                    try (Tensor y = layer.forward(mb, x)) {
                        results[mb] = rank.read(y);
                    }
                }
                assertEquals(tp == 1 ? 0 : 2, rank.comm().stats().calls(OpType.ALL_REDUCE));
                assertEquals(tp == 1 ? 0 : 2L * N * OUT * 4, rank.comm().stats().bytes(OpType.ALL_REDUCE));
                for (int mb = 0; mb < 2; mb++) {
                    try (Tensor dy = rank.tensor("dy", dys[mb], N, OUT); Tensor dx = layer.backward(mb, dy)) {
                        results[2 + mb] = rank.read(dx);
                    }
                }
                assertEquals(tp == 1 ? 0 : 2, rank.comm().stats().calls(OpType.ALL_REDUCE));
                inputs.forEach(Tensor::close);
                results[4] = rank.read(layer.weight().grad());
                results[5] = rank.read(layer.bias().grad());
                return results;
            }
        });
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void matchesTheSingleDeviceLayer(int tp) {
        float[][] ref = run(1).getFirst();
        List<float[][]> out = run(tp);
        for (int mb = 0; mb < 2; mb++) {
            int m = mb;
            for (float[][] o : out) {
                TpTesting.assertClose("y" + mb, o[mb], ref[mb]);
                TpTesting.assertClose("db", o[5], ref[5]);
            }
            TpTesting.assertClose("dx" + mb, TpTesting.concatColumns(out.stream().map(o -> o[2 + m]).toList(), N),
                    ref[2 + mb]);
        }
        TpTesting.assertClose("dW", TpTesting.concatColumns(out.stream().map(o -> o[4]).toList(), OUT), ref[4]);
    }

    @Test
    void rejectsASizeThatDoesNotDivideIn() {
        var e = assertThrows(IllegalArgumentException.class, () -> TpTesting.run(3, rank -> {
            try (var layer = new RowParallelLinear(8, 4, rank.mappings(), rank.backend(), rank.allocator(), "proj",
                    1)) {
                return layer;
            }
        }));
        assertEquals("tp=3 must divide in=8: choose tp in {1, 2, 4, 8}",
                ColumnParallelLinearTest.rootCause(e).getMessage());
    }
}
