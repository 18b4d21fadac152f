package dev.gatun.ops.cpu;

import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.AdamWStep;
import dev.gatun.ops.Transpose;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ForkJoinPool;

import static dev.gatun.ops.cpu.Numerics.random;
import static dev.gatun.ops.cpu.Numerics.randomInts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The backend as a whole: results independent of the pool (determinism), and its life cycle. */
class CpuBackendTest {
    private static final long SEED = 91;

    /**
     * Every operation on inputs large enough to be split into many tasks gives the same bits on one thread (called
     * from the only worker of a pool of one, so no other thread takes tasks) as on the caller with a pool of one
     * (two threads) and with a pool of four, and again on a second run.
     */
    @Test
    void resultsDoNotDependOnThePoolOrOnTiming() throws Exception {
        ForkJoinPool one = new ForkJoinPool(1);
        ForkJoinPool four = new ForkJoinPool(4);
        try (CpuBackend onOne = new CpuBackend(one); CpuBackend onFour = new CpuBackend(four)) {
            List<float[]> expected = one.submit(() -> runAll(onOne)).get();
            for (int run = 1; run <= 2; run++) {
                for (CpuBackend parallel : List.of(onOne, onFour)) {
                    List<float[]> actual = runAll(parallel);
                    assertEquals(expected.size(), actual.size());
                    for (int i = 0; i < expected.size(); i++) {
                        assertArrayEquals(expected.get(i), actual.get(i), "output " + i + ", run " + run + ", "
                                + parallel + ", seed " + SEED);
                    }
                }
            }
        } finally {
            one.shutdown();
            four.shutdown();
        }
    }

    /** Runs every operation once on fixed inputs, returning every output. */
    private static List<float[]> runAll(CpuBackend backend) {
        Random random = new Random(SEED);
        List<float[]> outputs = new ArrayList<>();
        try (TestTensors ts = new TestTensors()) {
            int rows = 600;
            int c = 45;
            Tensor x = ts.fp32("x", random(random, rows * c, 2), rows, c);
            Tensor w = ts.fp32("w", random(random, c, 1), c);
            Tensor bias = ts.fp32("bias", random(random, c, 1), c);
            Tensor dout = ts.fp32("dout", random(random, rows * c, 1), rows, c);

            Tensor dbias = ts.fp32("dbias", random(random, c, 1), c);
            backend.biasBackward(dout, dbias);
            outputs.add(dbias.toFloatArray(ts.stream));

            Tensor out = ts.poisoned("out", rows, c);
            Tensor mean = ts.poisoned("mean", rows);
            Tensor rstd = ts.poisoned("rstd", rows);
            backend.layerNorm(x, w, bias, 1e-5f, out, mean, rstd);
            Tensor din = ts.poisoned("din", rows, c);
            Tensor dw = ts.fp32("dw", random(random, c, 1), c);
            Tensor db = ts.fp32("db", random(random, c, 1), c);
            backend.layerNormBackward(dout, x, w, mean, rstd, din, dw, db);
            for (Tensor t : new Tensor[]{out, mean, rstd, din, dw, db}) {
                outputs.add(t.toFloatArray(ts.stream));
            }

            backend.addBias(out, bias);
            backend.add(out, x, out);
            backend.gelu(out, out);
            backend.geluBackward(x, out, din);
            backend.scale(din, 0.7f);
            outputs.add(din.toFloatArray(ts.stream));

            Tensor sum = ts.fp32("sum", new double[]{1}, 1);
            backend.sumOfSquares(ts.fp32("big", random(random, 200_003, 1), 200_003), sum);
            outputs.add(sum.toFloatArray(ts.stream));

            int n = 64;
            int v = 3000;
            Tensor logits = ts.fp32("logits", random(random, n * v, 5), n, v);
            Tensor losses = ts.poisoned("losses", n);
            Tensor probs = ts.poisoned("probs", n, v);
            backend.softmax(logits, probs);
            backend.crossEntropy(logits, ts.ints("targets", randomInts(random, n, v), n), 1f / n, losses, logits);
            outputs.add(probs.toFloatArray(ts.stream));
            outputs.add(losses.toFloatArray(ts.stream));
            outputs.add(logits.toFloatArray(ts.stream));

            int b = 2;
            int t = 64;
            int ch = 64;
            int nh = 4;
            Tensor qkv = ts.fp32("qkv", random(random, b * t * 3 * ch, 1), b, t, 3L * ch);
            Tensor y = ts.poisoned("y", b, t, ch);
            Tensor att = ts.poisoned("att", b, nh, t, t);
            backend.attention(qkv, nh, y, att);
            Tensor dqkv = ts.poisoned("dqkv", b, t, 3L * ch);
            backend.attentionBackward(ts.fp32("dy", random(random, b * t * ch, 1), b, t, ch), qkv, att, nh, dqkv);
            for (Tensor r : new Tensor[]{y, att, dqkv}) {
                outputs.add(r.toFloatArray(ts.stream));
            }

            int vocab = 50;
            Tensor tokens = ts.ints("tokens", randomInts(random, b * t, vocab), b, t);
            Tensor wte = ts.fp32("wte", random(random, vocab * ch, 1), vocab, ch);
            Tensor wpe = ts.fp32("wpe", random(random, t * ch, 1), t, ch);
            backend.embedding(tokens, wte, wpe, y);
            backend.embeddingBackward(y, tokens, wte, wpe);
            for (Tensor r : new Tensor[]{y, wte, wpe}) {
                outputs.add(r.toFloatArray(ts.stream));
            }

            int p = 100_000;
            Tensor param = ts.fp32("param", random(random, p, 1), p);
            Tensor m = ts.fp32("m", random(random, p, 0.1), p);
            Tensor vv = ts.zeros("v", DType.FP32, p);
            backend.adamW(param, ts.fp32("grad", random(random, p, 1), p), m, vv, new AdamWStep(1e-3f, 0.9f, 0.999f,
                    1e-8f, 0.01f, 1));
            Tensor half = ts.zeros("half", DType.BF16, p);
            backend.cast(param, half);
            Tensor back = ts.poisoned("back", p);
            backend.cast(half, back);
            outputs.add(back.toFloatArray(ts.stream));
            outputs.add(vv.toFloatArray(ts.stream));

            Tensor prod = ts.poisoned("prod", 70, 90);
            backend.gemm(ts.fp32("ga", random(random, 70 * 80, 1), 80, 70), Transpose.TRANSPOSE,
                    ts.fp32("gb", random(random, 80 * 90, 1), 80, 90), Transpose.NONE, prod, 1f, 0f);
            outputs.add(prod.toFloatArray(ts.stream));
        }
        return outputs;
    }

    @Test
    void checksEveryCallBeforeTouchingMemory() {
        try (CpuBackend backend = new CpuBackend(); TestTensors ts = new TestTensors()) {
            Random random = new Random(SEED);
            Tensor out = ts.poisoned("out", 2, 5, 12);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.layerNorm(
                    ts.fp32("x", random(random, 120, 1), 2, 5, 12), ts.zeros("ln.w", DType.BF16, 12),
                    ts.zeros("ln.b", DType.FP32, 12), 1e-5f, out, ts.poisoned("mean", 10), ts.poisoned("rstd", 10)));
            assertEquals("layerNorm: weight ('ln.w') must be fp32 [12], got bf16 [12]", e.getMessage());
            for (float value : out.toFloatArray(ts.stream)) {
                assertTrue(Float.isNaN(value), "out untouched");
            }
            e = assertThrows(IllegalArgumentException.class, () -> backend.attention(ts.zeros("qkv", DType.FP32, 2, 5,
                    36), 5, out, ts.zeros("att", DType.FP32, 2, 5, 5, 5)));
            assertEquals("attention: numHeads=5 must be > 0 and divide C=12 (qkv [2, 5, 36])", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> backend.embedding(ts.zeros("tokens", DType.INT32,
                    2, 5), ts.zeros("wte", DType.FP32, 37, 12), ts.zeros("wpe", DType.FP32, 4, 12), out));
            assertEquals("embedding: sequence length T=5 (tokens [2, 5]) exceeds maxT=4 (wpe [4, 12])",
                    e.getMessage());
        }
    }

    @Test
    void isTheCpuWithACpuStreamAndTheCommonPoolByDefault() {
        try (CpuBackend backend = new CpuBackend()) {
            assertEquals(Device.CPU, backend.device());
            assertEquals(Device.CPU, backend.stream().device());
            assertSame(ForkJoinPool.commonPool(), backend.pool());
            assertTrue(backend.toString().contains("lanes"), backend.toString());
        }
    }

    @Test
    void operationsAfterCloseFailAndCloseIsIdempotent() {
        CpuBackend backend = new CpuBackend();
        backend.close();
        backend.close();
        try (TestTensors ts = new TestTensors()) {
            Tensor x = ts.fp32("x", new double[]{1, 2}, 2);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> backend.scale(x, 2f));
            assertEquals("CpuBackend is closed", e.getMessage());
        }
    }
}
