package dev.gatun.tp;

import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(30)
class ParallelMlpTest {
    static BlockHarness.Block block(TpTesting.Rank rank, int h) {
        ParallelMlp mlp = new ParallelMlp(h, rank.mappings(), rank.backend(), rank.allocator(), "mlp", 3);
        return new BlockHarness.Block() {
            public Tensor forward(int mb, Tensor x) {
                return mlp.forward(mb, x);
            }

            public Tensor backward(int mb, Tensor dy) {
                return mlp.backward(mb, dy);
            }

            public ColumnParallelLinear column() {
                return mlp.fc();
            }

            public RowParallelLinear row() {
                return mlp.proj();
            }

            public void close() {
                mlp.close();
            }
        };
    }

    @ParameterizedTest
    @CsvSource({"2, 12", "3, 12", "2, 16", "4, 16"})
    void matchesTheSingleDeviceMlp(int tp, int h) {
        BlockHarness.assertMatchesSingleDevice(tp, h, rank -> block(rank, h));
    }

    @Test
    void singleDeviceMlpMatchesAFloat64Reference() {
        int h = 4;
        float[][] out = BlockHarness.run(1, h, rank -> block(rank, h)).getFirst();
        float[] x = TpTesting.random("x0", BlockHarness.B * BlockHarness.T * h);
        double[] y = new double[x.length];
        for (int n = 0; n < x.length / h; n++) {
            for (int o = 0; o < h; o++) {
                double acc = ParameterInit.gaussian(5, "row.bias", o, 0.5);
                for (int k = 0; k < 4 * h; k++) {
                    double a = ParameterInit.gaussian(5, "col.bias", k, 0.5);
                    for (int i = 0; i < h; i++) {
                        a += x[n * h + i] * (double) ParameterInit.gaussian(3, "mlp.fc.weight", (long) k * h + i, 0.02);
                    }
                    double gelu = 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a * a * a)));
                    acc += gelu * ParameterInit.gaussian(3, "mlp.proj.weight", (long) o * 4 * h + k, 0.02);
                }
                y[n * h + o] = acc;
            }
        }
        TpTesting.assertClose("y0", out[0], y);
    }

    @Test
    void rejectsASizeThatDoesNotDivideTheHiddenUnits() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> TpTesting.run(3, rank -> block(rank, 4)));
        assertEquals("tp=3 must divide out=16: choose tp in {1, 2, 4, 8, 16}",
                ColumnParallelLinearTest.rootCause(e).getMessage());
    }
}
