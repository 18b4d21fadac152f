package dev.gatun.tp;

import dev.gatun.collectives.CommStats;
import dev.gatun.collectives.OpType;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(30)
class VocabParallelCrossEntropyTest {
    private static final int N = 10;
    private static final int V = 24;
    private static final float SCALE = 1f / N;

    private static int[] targets() {
        int[] t = new int[N];
        for (int i = 0; i < N; i++) {
            t[i] = (i * 7 + 3) % V;
        }
        t[N - 1] = V - 1; // the last rank owns one
        return t;
    }

    /** Logits scaled up, so the max subtraction matters. */
    private static float[] logits() {
        float[] z = TpTesting.random("logits", N * V);
        for (int i = 0; i < z.length; i++) {
            z[i] = 20 * z[i] + 50;
        }
        return z;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4})
    void matchesAFloat64ReferenceOverTheFullVocabulary(int tp) {
        float[] z = logits();
        int[] targets = targets();
        int v = V / tp;
        List<float[][]> out = TpTesting.run(tp, rank -> {
            var ce = new VocabParallelCrossEntropy(V, rank.comm(), rank.backend(), rank.allocator());
            try (Tensor logits = rank.tensor("logits", TpTesting.columns(z, N, V, rank.rank() * v, v), N, v);
                 Tensor t = rank.ints("targets", targets);
                 Tensor losses = rank.tensor("losses", filled(N, Float.NaN), N);
                 Tensor dlogits = rank.tensor("dlogits", filled(N * v, Float.NaN), N, v)) {
                CommStats before = rank.comm().stats();
                ce.forwardBackward(logits, t, SCALE, losses, dlogits);
                CommStats calls = rank.comm().stats().minus(before);
                assertEquals(tp == 1 ? 0 : 3, calls.calls(OpType.ALL_REDUCE));
                assertEquals(tp == 1 ? 0 : 3L * N * 4, calls.bytes(OpType.ALL_REDUCE));
                return new float[][] {rank.read(losses), rank.read(dlogits)};
            }
        });
        double[] loss = new double[N];
        double[] dz = new double[N * V];
        reference(z, targets, V, loss, dz);
        for (float[][] o : out) {
            TpTesting.assertClose("losses", o[0], loss);
        }
        TpTesting.assertClose("dlogits", TpTesting.concatColumns(out.stream().map(o -> o[1]).toList(), N), dz);
    }

    /** Padding columns [vocab, V) hold large garbage: they must neither change the loss nor get a gradient. */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4})
    void leavesPaddedColumnsOutOfTheSoftmax(int tp) {
        int vocab = V - 5;
        float[] z = logits();
        for (int n = 0; n < N; n++) {
            for (int j = vocab; j < V; j++) {
                z[n * V + j] = 1000 + j;
            }
        }
        int[] targets = Arrays.stream(targets()).map(t -> t % vocab).toArray();
        int v = V / tp;
        List<float[][]> out = TpTesting.run(tp, rank -> {
            var ce = new VocabParallelCrossEntropy(vocab, V, rank.comm(), rank.backend(), rank.allocator());
            try (Tensor logits = rank.tensor("logits", TpTesting.columns(z, N, V, rank.rank() * v, v), N, v);
                 Tensor t = rank.ints("targets", targets);
                 Tensor losses = rank.tensor("losses", filled(N, Float.NaN), N);
                 Tensor dlogits = rank.tensor("dlogits", filled(N * v, Float.NaN), N, v)) {
                ce.forwardBackward(logits, t, SCALE, losses, dlogits);
                return new float[][] {rank.read(losses), rank.read(dlogits)};
            }
        });
        double[] loss = new double[N];
        double[] dz = new double[N * V];
        reference(z, targets, vocab, loss, dz);
        for (float[][] o : out) {
            TpTesting.assertClose("losses", o[0], loss);
        }
        TpTesting.assertClose("dlogits", TpTesting.concatColumns(out.stream().map(o -> o[1]).toList(), N), dz);
    }

    @Test
    void rejectsASizeThatDoesNotDivideTheVocabulary() {
        var e = assertThrows(IllegalArgumentException.class, () -> TpTesting.run(4, rank ->
                new VocabParallelCrossEntropy(10, rank.comm(), rank.backend(), rank.allocator())));
        assertEquals("tp=4 must divide vocab=10: choose tp in {1, 2, 5, 10}",
                ColumnParallelLinearTest.rootCause(e).getMessage());
    }

    /** float64 cross-entropy over the first {@code vocab} of {@code V} columns; the others get no gradient. */
    private static void reference(float[] z, int[] targets, int vocab, double[] loss, double[] dz) {
        for (int n = 0; n < N; n++) {
            double m = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < vocab; j++) {
                m = Math.max(m, z[n * V + j]);
            }
            double s = 0;
            for (int j = 0; j < vocab; j++) {
                s += Math.exp(z[n * V + j] - m);
            }
            loss[n] = Math.log(s) + m - z[n * V + targets[n]];
            for (int j = 0; j < vocab; j++) {
                dz[n * V + j] = (Math.exp(z[n * V + j] - m) / s - (j == targets[n] ? 1 : 0)) * SCALE;
            }
        }
    }

    static float[] filled(int n, float value) {
        float[] a = new float[n];
        Arrays.fill(a, value);
        return a;
    }
}
