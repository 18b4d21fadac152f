package dev.gatun.tp;

import dev.gatun.collectives.CommStats;
import dev.gatun.collectives.OpType;
import dev.gatun.memory.Tensor;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Runs a column→row block (MLP or attention) on tp ranks for two micro-batches, and compares with tp = 1: outputs,
 * input gradients and the assembled parameter gradients.
 */
final class BlockHarness {
    static final int B = 2;
    static final int T = 5;

    private BlockHarness() {
    }

    /** A block under test, built on one rank. */
    interface Block extends AutoCloseable {
        Tensor forward(int microBatch, Tensor x);

        Tensor backward(int microBatch, Tensor dy);

        ColumnParallelLinear column();

        RowParallelLinear row();

        @Override
        void close();
    }

    interface Factory {
        Block create(TpTesting.Rank rank);
    }

    /**
     * Per rank: y0, y1, dx0, dx1, column dW and db placed at their rows of the full layer (zeros elsewhere), row dW
     * (this rank's columns), row db.
     */
    static List<float[][]> run(int tp, int h, Factory factory) {
        int n = B * T * h;
        float[][] xs = {TpTesting.random("x0", n), TpTesting.random("x1", n)};
        float[][] dys = {TpTesting.random("dy0", n), TpTesting.random("dy1", n)};
        return TpTesting.run(tp, rank -> {
            try (Block block = factory.create(rank)) {
                ColumnParallelLinear col = block.column();
                ParameterInit.fill(col.bias().value(), 5, "col.bias", 0.5, i -> col.globalOutputColumn((int) i),
                        rank.backend().stream());
                ParameterInit.fill(block.row().bias().value(), 5, "row.bias", 0.5, i -> i, rank.backend().stream());
                float[][] out = new float[8][];
                Tensor[] x = new Tensor[2];
                CommStats before = rank.comm().stats();
                for (int mb = 0; mb < 2; mb++) {
                    x[mb] = rank.tensor("x", xs[mb], B, T, h);
                    try (Tensor y = block.forward(mb, x[mb])) {
                        out[mb] = rank.read(y);
                    }
                }
                CommStats forward = rank.comm().stats().minus(before);
                for (int mb = 0; mb < 2; mb++) {
                    try (Tensor dy = rank.tensor("dy", dys[mb], B, T, h); Tensor dx = block.backward(mb, dy)) {
                        out[2 + mb] = rank.read(dx);
                    }
                }
                CommStats backward = rank.comm().stats().minus(before).minus(forward);
                int expectedCalls = tp == 1 ? 0 : 2; // one per micro-batch
                assertEquals(expectedCalls, forward.calls(OpType.ALL_REDUCE), "forward all-reduces");
                assertEquals(expectedCalls, backward.calls(OpType.ALL_REDUCE), "backward all-reduces");
                assertEquals(expectedCalls * (long) n * 4, forward.bytes(OpType.ALL_REDUCE), "forward bytes");
                assertEquals(expectedCalls * (long) n * 4, backward.bytes(OpType.ALL_REDUCE), "backward bytes");
                assertEquals(forward.calls(OpType.ALL_REDUCE), forward.totalCalls());
                assertEquals(backward.calls(OpType.ALL_REDUCE), backward.totalCalls());
                x[0].close();
                x[1].close();
                float[] w = rank.read(col.weight().grad());
                float[] b = rank.read(col.bias().grad());
                int rows = b.length;
                out[4] = new float[rows * tp * h];
                out[5] = new float[rows * tp];
                for (int j = 0; j < rows; j++) {
                    int g = col.globalOutputColumn(j);
                    System.arraycopy(w, j * h, out[4], g * h, h);
                    out[5][g] = b[j];
                }
                out[6] = rank.read(block.row().weight().grad());
                out[7] = rank.read(block.row().bias().grad());
                return out;
            }
        }).stream().toList();
    }

    /** Asserts the tp run equals the tp = 1 run, with every parameter gradient assembled to the full layer. */
    static void assertMatchesSingleDevice(int tp, int h, Factory factory) {
        float[][] ref = run(1, h, factory).getFirst();
        List<float[][]> out = run(tp, h, factory);
        for (float[][] o : out) {
            for (int i = 0; i < 4; i++) {
                TpTesting.assertClose(i < 2 ? "y" + i : "dx" + (i - 2), o[i], ref[i]);
            }
            TpTesting.assertClose("row db", o[7], ref[7]);
        }
        TpTesting.assertClose("column dW", sum(out, 4), ref[4]);
        TpTesting.assertClose("column db", sum(out, 5), ref[5]);
        TpTesting.assertClose("row dW", TpTesting.concatColumns(out.stream().map(o -> o[6]).toList(), h), ref[6]);
    }

    private static float[] sum(List<float[][]> out, int k) {
        float[] s = new float[out.getFirst()[k].length];
        for (float[][] o : out) {
            for (int i = 0; i < s.length; i++) {
                s[i] += o[k][i];
            }
        }
        return s;
    }
}
