package dev.gatun.tp;

import dev.gatun.collectives.OpType;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(30)
class MappingsTest {
    private static final int ROWS = 4;
    private static final int COLS = 12;

    /** Rank r's input: x_r[i] = (r + 1)·base[i], so sums are (Σ(r+1))·base. */
    private static float[] input(int rank) {
        float[] base = TpTesting.random("base", ROWS * COLS);
        float[] x = new float[base.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = (rank + 1) * base[i];
        }
        return x;
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void copyIsIdentityForwardAndAllReduceBackward(int tp) {
        List<float[][]> out = TpTesting.run(tp, rank -> {
            try (Tensor x = rank.tensor("x", input(rank.rank()), ROWS, COLS);
                 Tensor y = rank.tensor("y", new float[ROWS * COLS], ROWS, COLS)) {
                rank.mappings().copyToRegion().forward(x, y);
                assertEquals(0, rank.comm().stats().calls(OpType.ALL_REDUCE));
                float[] fwd = rank.read(y);
                rank.mappings().copyToRegion().backward(x, x);
                assertEquals(1, rank.comm().stats().calls(OpType.ALL_REDUCE));
                return new float[][] {fwd, rank.read(x)};
            }
        });
        float[] base = TpTesting.random("base", ROWS * COLS);
        float sum = tp * (tp + 1) / 2f;
        for (int r = 0; r < tp; r++) {
            assertArrayEquals(input(r), out.get(r)[0]);
            for (int i = 0; i < base.length; i++) {
                assertEquals(sum * base[i], out.get(r)[1][i], 1e-5);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void reduceIsAllReduceForwardAndIdentityBackward(int tp) {
        List<float[][]> out = TpTesting.run(tp, rank -> {
            try (Tensor x = rank.tensor("x", input(rank.rank()), ROWS, COLS)) {
                rank.mappings().reduceFromRegion().forward(x, x);
                float[] fwd = rank.read(x);
                rank.mappings().reduceFromRegion().backward(x, x);
                assertEquals(1, rank.comm().stats().calls(OpType.ALL_REDUCE));
                assertEquals(4L * ROWS * COLS, rank.comm().stats().bytes(OpType.ALL_REDUCE));
                return new float[][] {fwd, rank.read(x)};
            }
        });
        float[] base = TpTesting.random("base", ROWS * COLS);
        float sum = tp * (tp + 1) / 2f;
        for (int r = 0; r < tp; r++) {
            for (int i = 0; i < base.length; i++) {
                assertEquals(sum * base[i], out.get(r)[0][i], 1e-5);
            }
            assertArrayEquals(out.get(r)[0], out.get(r)[1]);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4})
    void scatterAndGatherAlongTheLastDimensionAreInverse(int tp) {
        float[] full = TpTesting.random("full", ROWS * COLS);
        int w = COLS / tp;
        List<float[][]> out = TpTesting.run(tp, rank -> {
            try (Tensor x = rank.tensor("x", full, ROWS, COLS);
                 Tensor shard = rank.tensor("shard", new float[ROWS * w], ROWS, w);
                 Tensor back = rank.tensor("back", new float[ROWS * COLS], ROWS, COLS);
                 Tensor viaGather = rank.tensor("g", new float[ROWS * COLS], ROWS, COLS);
                 Tensor split = rank.tensor("s", new float[ROWS * w], ROWS, w)) {
                rank.mappings().scatterToRegion().forward(x, shard);
                rank.mappings().scatterToRegion().backward(shard, back);
                rank.mappings().gatherFromRegion().forward(shard, viaGather);
                rank.mappings().gatherFromRegion().backward(viaGather, split);
                if (tp == 1) {
                    assertEquals(0, rank.comm().stats().totalCalls());
                }
                return new float[][] {rank.read(shard), rank.read(back), rank.read(viaGather), rank.read(split)};
            }
        });
        for (int r = 0; r < tp; r++) {
            float[][] o = out.get(r);
            assertArrayEquals(TpTesting.columns(full, ROWS, COLS, r * w, w), o[0]);
            assertArrayEquals(full, o[1]);
            assertArrayEquals(full, o[2]);
            assertArrayEquals(o[0], o[3]);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void sequenceParallelPairsAreConjugate(int tp) {
        int rows = ROWS / tp * COLS;
        List<float[][]> out = TpTesting.run(tp, rank -> {
            float[] mine = input(rank.rank());
            try (Tensor x = rank.tensor("x", mine, ROWS, COLS);
                 Tensor part = rank.tensor("part", new float[rows], ROWS / tp, COLS);
                 Tensor gathered = rank.tensor("g", new float[ROWS * COLS], ROWS, COLS);
                 Tensor reduced = rank.tensor("r", new float[rows], ROWS / tp, COLS);
                 Tensor scattered = rank.tensor("s", new float[rows], ROWS / tp, COLS)) {
                rank.mappings().scatterToSequenceParallelRegion().forward(x, scattered);
                rank.mappings().reduceScatterToSequenceParallelRegion().forward(x, reduced);
                rank.mappings().gatherFromSequenceParallelRegion().backward(x, part);
                rank.mappings().gatherFromSequenceParallelRegion().forward(scattered, gathered);
                return new float[][] {rank.read(scattered), rank.read(reduced), rank.read(part), rank.read(gathered)};
            }
        });
        float[] base = TpTesting.random("base", ROWS * COLS);
        float sum = tp * (tp + 1) / 2f;
        for (int r = 0; r < tp; r++) {
            float[][] o = out.get(r);
            for (int i = 0; i < rows; i++) {
                assertEquals((r + 1) * base[r * rows + i], o[0][i], 0f);
                assertEquals(sum * base[r * rows + i], o[1][i], 1e-5);
                assertEquals(o[1][i], o[2][i], 0f);
            }
            for (int i = 0; i < base.length; i++) {
                assertEquals((i / rows + 1) * base[i], o[3][i], 0f);
            }
        }
    }

    @Test
    void aGroupOfOneRecordsNoCall() {
        TpTesting.run(1, rank -> {
            try (Tensor x = rank.tensor("x", input(0), ROWS, COLS)) {
                Mappings m = rank.mappings();
                for (Mapping mapping : List.of(m.copyToRegion(), m.reduceFromRegion(),
                        m.gatherFromSequenceParallelRegion(), m.reduceScatterToSequenceParallelRegion())) {
                    mapping.forward(x, x);
                    mapping.backward(x, x);
                }
                assertEquals(0, rank.comm().stats().totalCalls());
                assertArrayEquals(input(0), rank.read(x));
            }
            return null;
        });
    }

    @Test
    void mismatchedShapesAreRejectedBeforeCommunicating() {
        TpTesting.run(2, rank -> {
            try (Tensor x = rank.tensor("x", input(0), ROWS, COLS);
                 Tensor bad = rank.tensor("bad", new float[ROWS * 5], ROWS, 5)) {
                var e = assertThrows(IllegalArgumentException.class,
                        () -> rank.mappings().scatterToRegion().forward(x, bad));
                assertEquals("split last dimension: 'x' [4, 12] must be 'bad' [4, 5] with the last dimension times"
                        + " tp=2", e.getMessage());
                assertEquals(0, rank.comm().stats().totalCalls());
            }
            return null;
        });
    }
}
