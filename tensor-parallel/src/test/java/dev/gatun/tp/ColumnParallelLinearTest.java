package dev.gatun.tp;

import dev.gatun.collectives.OpType;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(30)
class ColumnParallelLinearTest {
    private static final int N = 10; // B·T = 2·5
    private static final int IN = 12;
    private static final int OUT = 24;
    private static final long SEED = 7;

    /** Per rank: y0, y1, dx0, dx1, dW, db (two micro-batches, parameter gradients accumulated over both). */
    static List<float[][]> run(int tp, boolean gatherOutput) {
        float[][] xs = {TpTesting.random("x0", N * IN), TpTesting.random("x1", N * IN)};
        float[][] dys = {TpTesting.random("dy0", N * OUT), TpTesting.random("dy1", N * OUT)};
        return TpTesting.run(tp, rank -> {
            try (var layer = new ColumnParallelLinear(IN, OUT, rank.mappings(), rank.backend(), rank.allocator(),
                    "fc", SEED, gatherOutput)) {
                ParameterInit.fill(layer.bias().value(), SEED, "fc.bias", 0.5, i -> layer.globalOutputColumn((int) i),
                        rank.backend().stream());
                int w = OUT / tp;
                float[][] results = new float[6][];
                List<Tensor> inputs = new ArrayList<>();
                for (int mb = 0; mb < 2; mb++) {
                    Tensor x = rank.tensor("x", xs[mb], N, IN);
                    inputs.add(x);
                    try (Tensor y = layer.forward(mb, x)) {
                        results[mb] = rank.read(y);
                    }
                }
                assertEquals(0, rank.comm().stats().calls(OpType.ALL_REDUCE));
                for (int mb = 1; mb >= 0; mb--) {
                    float[] dy = gatherOutput ? dys[mb] : TpTesting.columns(dys[mb], N, OUT, rank.rank() * w, w);
                    try (Tensor dyt = rank.tensor("dy", dy, N, gatherOutput ? OUT : w);
                         Tensor dx = layer.backward(mb, dyt)) {
                        results[2 + mb] = rank.read(dx);
                    }
                }
                assertEquals(tp == 1 ? 0 : 2, rank.comm().stats().calls(OpType.ALL_REDUCE));
                assertEquals(tp == 1 ? 0 : 2L * N * IN * 4, rank.comm().stats().bytes(OpType.ALL_REDUCE));
                inputs.forEach(Tensor::close);
                results[4] = rank.read(layer.weight().grad());
                results[5] = rank.read(layer.bias().grad());
                return results;
            }
        });
    }

    @ParameterizedTest
    @CsvSource({"2, false", "3, false", "4, false", "2, true", "4, true"})
    void matchesTheSingleDeviceLayer(int tp, boolean gatherOutput) {
        float[][] ref = run(1, false).getFirst();
        List<float[][]> out = run(tp, gatherOutput);
        for (int mb = 0; mb < 2; mb++) {
            int m = mb;
            float[] y = gatherOutput ? out.getFirst()[mb]
                    : TpTesting.concatColumns(out.stream().map(o -> o[m]).toList(), N);
            TpTesting.assertClose("y" + mb, y, ref[mb]);
            for (float[][] o : out) {
                TpTesting.assertClose("dx" + mb, o[2 + mb], ref[2 + mb]);
            }
        }
        TpTesting.assertClose("dW", TpTesting.concatRows(out.stream().map(o -> o[4]).toList()), ref[4]);
        TpTesting.assertClose("db", TpTesting.concatRows(out.stream().map(o -> o[5]).toList()), ref[5]);
    }

    @Test
    void singleDeviceLayerMatchesAFloat64Reference() {
        float[][] out = run(1, false).getFirst();
        float[][] xs = {TpTesting.random("x0", N * IN), TpTesting.random("x1", N * IN)};
        float[][] dys = {TpTesting.random("dy0", N * OUT), TpTesting.random("dy1", N * OUT)};
        double[] y = new double[N * OUT];
        double[] dw = new double[OUT * IN];
        double[] db = new double[OUT];
        for (int mb = 0; mb < 2; mb++) {
            double[] dx = new double[N * IN];
            for (int n = 0; n < N; n++) {
                for (int o = 0; o < OUT; o++) {
                    double w0 = ParameterInit.gaussian(SEED, "fc.bias", o, 0.5);
                    double acc = w0;
                    for (int i = 0; i < IN; i++) {
                        double w = ParameterInit.gaussian(SEED, "fc.weight", (long) o * IN + i, 0.02);
                        acc += xs[mb][n * IN + i] * w;
                        dx[n * IN + i] += dys[mb][n * OUT + o] * w;
                        dw[o * IN + i] += dys[mb][n * OUT + o] * xs[mb][n * IN + i];
                    }
                    y[n * OUT + o] = acc;
                    db[o] += dys[mb][n * OUT + o];
                }
            }
            TpTesting.assertClose("y" + mb, out[mb], y);
            TpTesting.assertClose("dx" + mb, out[2 + mb], dx);
        }
        TpTesting.assertClose("dW", out[4], dw);
        TpTesting.assertClose("db", out[5], db);
    }

    @Test
    void rejectsASizeThatDoesNotDivideOut() {
        var e = assertThrows(IllegalArgumentException.class, () -> TpTesting.run(3, rank -> {
            try (var layer = new ColumnParallelLinear(4, 8, rank.mappings(), rank.backend(), rank.allocator(), "fc",
                    1, false)) {
                return layer;
            }
        }));
        assertEquals("tp=3 must divide out=8: choose tp in {1, 2, 4, 8}", rootCause(e).getMessage());
    }

    static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }
}
