package dev.gatun.tp;

import dev.gatun.collectives.OpType;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(30)
class VocabParallelEmbeddingTest {
    private static final int V = 24;
    private static final int C = 8;
    private static final int N = 10;

    private static int[] ids(int mb) {
        int[] t = new int[N];
        for (int i = 0; i < N; i++) {
            t[i] = (i * 5 + mb * 3) % V;
        }
        t[0] = t[1]; // a repeated id accumulates twice
        return t;
    }

    /** Per rank: out0, out1, dwte shard. */
    private static List<float[][]> run(int tp) {
        float[][] douts = {TpTesting.random("d0", N * C), TpTesting.random("d1", N * C)};
        return TpTesting.run(tp, rank -> {
            try (var emb = new VocabParallelEmbedding(V, C, rank.mappings(), rank.backend(), rank.allocator(), "wte",
                    4)) {
                float[][] out = new float[3][];
                Tensor[] ids = {rank.ints("ids0", ids(0)), rank.ints("ids1", ids(1))};
                for (int mb = 0; mb < 2; mb++) {
                    try (Tensor y = emb.forward(mb, ids[mb])) {
                        out[mb] = rank.read(y);
                    }
                }
                assertEquals(tp == 1 ? 0 : 2, rank.comm().stats().calls(OpType.ALL_REDUCE));
                for (int mb = 0; mb < 2; mb++) {
                    try (Tensor d = rank.tensor("dout", douts[mb], N, C)) {
                        emb.backward(mb, d);
                    }
                    ids[mb].close();
                }
                assertEquals(tp == 1 ? 0 : 2, rank.comm().stats().calls(OpType.ALL_REDUCE));
                out[2] = rank.read(emb.weight().grad());
                return out;
            }
        });
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4})
    void matchesTheFullTable(int tp) {
        float[][] douts = {TpTesting.random("d0", N * C), TpTesting.random("d1", N * C)};
        double[] dwte = new double[V * C];
        List<float[][]> out = run(tp);
        for (int mb = 0; mb < 2; mb++) {
            int[] t = ids(mb);
            double[] y = new double[N * C];
            for (int i = 0; i < N; i++) {
                for (int c = 0; c < C; c++) {
                    y[i * C + c] = ParameterInit.gaussian(4, "wte.weight", (long) t[i] * C + c, 0.02);
                    dwte[t[i] * C + c] += douts[mb][i * C + c];
                }
            }
            for (float[][] o : out) {
                TpTesting.assertClose("out" + mb, o[mb], y);
            }
        }
        TpTesting.assertClose("dwte", TpTesting.concatRows(out.stream().map(o -> o[2]).toList()), dwte);
    }

    @Test
    void anIdOfThePaddingIsRefusedByEveryRankNotOnlyItsOwner() {
        var e = assertThrows(IllegalArgumentException.class, () -> TpTesting.run(2, rank -> {
            try (var emb = new VocabParallelEmbedding(V - 3, V, C, rank.mappings(), rank.backend(), rank.allocator(),
                    "wte", 4); Tensor ids = rank.ints("ids", new int[]{0, V - 4, V - 3})) {
                return emb.forward(0, ids);
            }
        }));
        assertEquals("vocabEmbedding: token id 21 at position [2] is outside [0, 21)",
                ColumnParallelLinearTest.rootCause(e).getMessage());
    }

    @Test
    void rejectsASizeThatDoesNotDivideTheVocabulary() {
        var e = assertThrows(IllegalArgumentException.class, () -> TpTesting.run(5, rank ->
                new VocabParallelEmbedding(V, C, rank.mappings(), rank.backend(), rank.allocator(), "w", 1)));
        assertEquals("tp=5 must divide vocab=24: choose tp in {1, 2, 3, 4, 6, 8, 12, 24}",
                ColumnParallelLinearTest.rootCause(e).getMessage());
    }
}
