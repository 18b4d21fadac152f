package dev.gatun.ops.cpu;

import dev.gatun.memory.Tensor;
import dev.gatun.ops.VocabSlice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.Random;

import static dev.gatun.ops.cpu.Numerics.FP32;
import static dev.gatun.ops.cpu.Numerics.assertClose;
import static dev.gatun.ops.cpu.Numerics.minus;
import static dev.gatun.ops.cpu.Numerics.random;
import static dev.gatun.ops.cpu.Numerics.randomInts;
import static dev.gatun.ops.cpu.Numerics.times;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The vocabulary-parallel operations of {@link CpuBackend}, with the vocabulary {@code V} padded to {@code P} columns
 * and split over {@code tp} slices: the slices' embeddings sum to the table lookup, their gradients put together
 * equal the scatter-add, and the three cross-entropy passes (with the all-reduces done here between them) give the
 * float64 loss and softmax gradient of the unpadded logits, the padding columns getting none.
 */
class VocabKernelsTest extends CpuBackendTestBase {
    @ParameterizedTest
    @CsvSource({"3, 37, 39, 2, 5, 12", "1, 37, 37, 2, 5, 12", "4, 29, 32, 3, 7, 9", "2, 1, 2, 1, 1, 1"})
    void slicesOfTheEmbeddingSumToTheLookupAndTheirGradientsToTheScatterAdd(int tp, int v, int p, int b, int t,
                                                                              int c) {
        long seed = 97L * p + tp;
        Random random = new Random(seed);
        int s = p / tp;
        int n = b * t;
        int[] ids = randomInts(random, n, v);
        ids[n - 1] = ids[0];
        double[] wte = random(random, p * c, 1);
        double[] dout = random(random, n * c, 1);
        double[] lookup = new double[n * c];
        double[] scatter = new double[p * c];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < c; j++) {
                lookup[i * c + j] = wte[ids[i] * c + j];
                scatter[ids[i] * c + j] += dout[i * c + j];
            }
        }
        String what = "tp=" + tp + " V=" + v + " P=" + p + " [" + b + ", " + t + ", " + c + "], seed " + seed;
        try (TestTensors ts = new TestTensors()) {
            Tensor tokens = ts.ints("tokens", ids, b, t);
            Tensor tDout = ts.fp32("dout", dout, b, t, c);
            double[] sum = new double[n * c];
            double[] start = random(random, p * c, 1);
            double[][] grads = new double[tp][];
            for (int r = 0; r < tp; r++) {
                VocabSlice slice = new VocabSlice(r * s, v);
                Tensor out = ts.poisoned("out" + r, b, t, c);
                backend.vocabEmbedding(tokens, ts.fp32("wte" + r, part(wte, r * s * c, s * c), s, c), slice, out);
                double[] o = ts.read(out);
                for (int i = 0; i < n * c; i++) {
                    sum[i] += o[i];
                }
                double[] gStart = part(start, r * s * c, s * c);
                Tensor dwte = ts.fp32("dwte" + r, gStart, s, c);
                backend.vocabEmbeddingBackward(tDout, tokens, slice, dwte);
                backend.vocabEmbeddingBackward(tDout, tokens, slice, dwte);
                grads[r] = minus(ts.read(dwte), gStart);
            }
            assertClose(sum, lookup, FP32, what + ": Σ_r out_r");
            assertClose(concat(grads), times(2, scatter), FP32, what + ": dwte (two calls)");
        }
    }

    @ParameterizedTest
    @CsvSource({"3, 37, 39, 6", "1, 37, 37, 6", "4, 29, 32, 5", "4, 25, 32, 3", "2, 1100, 1152, 2"})
    void threePassesWithReductionsBetweenGiveTheLossAndGradientOfTheUnpaddedLogits(int tp, int v, int p, int n) {
        long seed = 101L * p + tp;
        Random random = new Random(seed);
        int s = p / tp;
        float scale = 0.37f;
        double[] z = random(random, n * p, 6);
        int[] targets = randomInts(random, n, v);
        double[] unpadded = new double[n * v];
        for (int i = 0; i < n; i++) {
            System.arraycopy(z, i * p, unpadded, i * v, v);
        }
        double[] refLoss = Reference.crossEntropy(unpadded, targets, v);
        double[] refGrad = new double[n * p];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < v; j++) {
                double logit = z[i * p + j];
                refGrad[i * p + j] = scale * (Math.exp(logit - (refLoss[i] + z[i * p + targets[i]]))
                        - (j == targets[i] ? 1 : 0));
            }
        }
        String what = "tp=" + tp + " V=" + v + " P=" + p + " N=" + n + ", seed " + seed;
        try (TestTensors ts = new TestTensors()) {
            Tensor tTargets = ts.ints("targets", targets, n);
            Tensor[] logits = new Tensor[tp];
            Tensor[] max = new Tensor[tp];
            Tensor[] target = new Tensor[tp];
            Tensor[] sumExp = new Tensor[tp];
            VocabSlice[] slices = new VocabSlice[tp];
            for (int r = 0; r < tp; r++) {
                slices[r] = new VocabSlice(r * s, v);
                double[] local = new double[n * s];
                for (int i = 0; i < n; i++) {
                    System.arraycopy(z, i * p + r * s, local, i * s, s);
                }
                logits[r] = ts.fp32("logits" + r, local, n, s);
                max[r] = ts.poisoned("max" + r, n);
                target[r] = ts.poisoned("target" + r, n);
                sumExp[r] = ts.poisoned("sumExp" + r, n);
                backend.vocabLogitStats(logits[r], tTargets, slices[r], max[r], target[r]);
            }
            allReduce(ts, max, true);
            allReduce(ts, target, false);
            for (int r = 0; r < tp; r++) {
                backend.vocabSumExp(logits[r], slices[r], max[r], sumExp[r]);
            }
            allReduce(ts, sumExp, false);
            double[][] grads = new double[tp][];
            for (int r = 0; r < tp; r++) {
                Tensor losses = ts.poisoned("losses" + r, n);
                Tensor dlogits = ts.poisoned("dlogits" + r, n, s);
                backend.vocabCrossEntropy(logits[r], tTargets, slices[r], max[r], sumExp[r], target[r], scale,
                        losses, dlogits);
                assertClose(ts.read(losses), refLoss, FP32, what + ": losses on rank " + r);
                double[] local = ts.read(dlogits);
                grads[r] = local;
                // in place: the same bits
                Tensor inPlace = ts.fp32("inPlace" + r, ts.read(logits[r]), n, s);
                backend.vocabCrossEntropy(inPlace, tTargets, slices[r], max[r], sumExp[r], target[r], scale,
                        ts.poisoned("losses2." + r, n), inPlace);
                assertArrayEquals(local, ts.read(inPlace), what + ": in-place dlogits on rank " + r);
            }
            double[] grad = new double[n * p];
            for (int r = 0; r < tp; r++) {
                for (int i = 0; i < n; i++) {
                    System.arraycopy(grads[r], i * s, grad, i * p + r * s, s);
                }
            }
            assertClose(grad, refGrad, FP32, what + ": dlogits");
            for (int i = 0; i < n; i++) {
                for (int j = v; j < p; j++) {
                    assertEquals(0.0, grad[i * p + j], what + ": padding column " + j + " of row " + i);
                }
            }
        }
    }

    @Test
    void oneSliceOfTheWholeVocabularyEqualsTheFusedCrossEntropy() {
        Random random = new Random(103);
        int n = 7;
        int v = 53;
        double[] z = random(random, n * v, 5);
        int[] targets = randomInts(random, n, v);
        try (TestTensors ts = new TestTensors()) {
            Tensor logits = ts.fp32("logits", z, n, v);
            Tensor tTargets = ts.ints("targets", targets, n);
            VocabSlice whole = new VocabSlice(0, v);
            Tensor max = ts.poisoned("max", n);
            Tensor target = ts.poisoned("target", n);
            Tensor sumExp = ts.poisoned("sumExp", n);
            Tensor losses = ts.poisoned("losses", n);
            Tensor dlogits = ts.poisoned("dlogits", n, v);
            backend.vocabLogitStats(logits, tTargets, whole, max, target);
            backend.vocabSumExp(logits, whole, max, sumExp);
            backend.vocabCrossEntropy(logits, tTargets, whole, max, sumExp, target, 0.5f, losses, dlogits);
            Tensor fusedLosses = ts.poisoned("fusedLosses", n);
            Tensor fused = ts.poisoned("fused", n, v);
            backend.crossEntropy(logits, tTargets, 0.5f, fusedLosses, fused);
            assertClose(ts.read(losses), ts.read(fusedLosses), FP32, "losses");
            assertClose(ts.read(dlogits), ts.read(fused), FP32, "dlogits");
        }
    }

    @Test
    void idsAndTargetsOutsideTheVocabularyAreNamedEvenWhenAnotherSliceWouldHoldThem() {
        try (TestTensors ts = new TestTensors()) {
            VocabSlice last = new VocabSlice(20, 37);
            Tensor wte = ts.fp32("wte", random(new Random(107), 20 * 4, 1), 20, 4);
            Tensor ids = ts.ints("ids", new int[]{0, 36, 5, 38}, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> backend.vocabEmbedding(ids, wte, last, ts.poisoned("out", 4, 4)));
            assertEquals("vocabEmbedding: token id 38 at position [3] is outside [0, 37)", e.getMessage());
            Tensor logits = ts.fp32("logits", random(new Random(109), 4 * 20, 1), 4, 20);
            Tensor targets = ts.ints("targets", new int[]{0, -1, 3, 2}, 4);
            e = assertThrows(IllegalArgumentException.class, () -> backend.vocabLogitStats(logits, targets, last,
                    ts.poisoned("max", 4), ts.poisoned("target", 4)));
            assertEquals("vocabLogitStats: target -1 at position [1] is outside [0, 37)", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> backend.vocabSumExp(logits, last,
                    ts.poisoned("max", 3), ts.poisoned("sumExp", 4)));
            assertEquals("vocabSumExp: max ('max') must be fp32 [4], got fp32 [3]", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> new VocabSlice(-1, 37));
            assertEquals("a vocabulary slice needs offset >= 0 and vocab >= 1, got offset=-1, vocab=37",
                    e.getMessage());
        }
    }

    /** The all-reduce between the passes: MAX, or SUM in rank order, in fp32 as the communicators do. */
    private static void allReduce(TestTensors ts, Tensor[] parts, boolean max) {
        int n = Math.toIntExact(parts[0].numel());
        float[] total = new float[n];
        Arrays.fill(total, max ? Float.NEGATIVE_INFINITY : 0f);
        for (Tensor part : parts) {
            float[] x = part.toFloatArray(ts.stream);
            for (int i = 0; i < n; i++) {
                total[i] = max ? Math.max(total[i], x[i]) : total[i] + x[i];
            }
        }
        for (Tensor part : parts) {
            part.copyFrom(total, ts.stream);
        }
    }

    private static double[] part(double[] x, int from, int length) {
        return Arrays.copyOfRange(x, from, from + length);
    }

    private static double[] concat(double[][] parts) {
        return Arrays.stream(parts).flatMapToDouble(Arrays::stream).toArray();
    }
}
