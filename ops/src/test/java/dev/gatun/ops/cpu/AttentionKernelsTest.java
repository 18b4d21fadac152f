package dev.gatun.ops.cpu;

import dev.gatun.memory.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.gatun.ops.cpu.Numerics.FP32;
import static dev.gatun.ops.cpu.Numerics.assertClose;
import static dev.gatun.ops.cpu.Numerics.numericGradient;
import static dev.gatun.ops.cpu.Numerics.random;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Causal self-attention through {@link CpuBackend} against the float64 reference, and its backward against central
 * finite differences of that reference: several heads, one head, a single position, and rows longer than a vector.
 */
class AttentionKernelsTest extends CpuBackendTestBase {
    @ParameterizedTest
    @CsvSource({"2, 5, 12, 3", "1, 1, 4, 1", "1, 19, 32, 2", "3, 4, 6, 6"})
    void forwardMatchesReferenceWithTheMaskExactlyZero(int b, int t, int c, int nh) {
        long seed = 61L * t + c + nh;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            double[] qkv = random(random, b * t * 3 * c, 2);
            Tensor out = ts.poisoned("out", b, t, c);
            Tensor att = ts.poisoned("att", b, nh, t, t);
            backend.attention(ts.fp32("qkv", qkv, b, t, 3L * c), nh, out, att);
            double[][] ref = Reference.attention(qkv, b, t, c, nh);
            String what = "attention B=" + b + " T=" + t + " C=" + c + " NH=" + nh + ", seed " + seed;
            assertClose(ts.read(out), ref[0], FP32, what + ": out");
            double[] probabilities = ts.read(att);
            assertClose(probabilities, ref[1], FP32, what + ": att");
            for (int row = 0; row < b * nh * t; row++) {
                for (int j = row % t + 1; j < t; j++) {
                    assertEquals(0.0, probabilities[row * t + j], what + ": masked att[" + row + ", " + j + "]");
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"2, 5, 12, 3", "1, 1, 4, 1", "1, 19, 32, 2"})
    void backwardMatchesFiniteDifferences(int b, int t, int c, int nh) {
        long seed = 67L * t + c + nh;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            double[] qkv = random(random, b * t * 3 * c, 1.5);
            double[] weights = random(random, b * t * c, 1);
            Tensor tQkv = ts.fp32("qkv", qkv, b, t, 3L * c);
            Tensor att = ts.poisoned("att", b, nh, t, t);
            backend.attention(tQkv, nh, ts.poisoned("out", b, t, c), att);
            Tensor dqkv = ts.poisoned("dqkv", b, t, 3L * c);
            backend.attentionBackward(ts.fp32("dout", weights, b, t, c), tQkv, att, nh, dqkv);
            double[] numeric = numericGradient(x -> Numerics.dot(Reference.attention(x, b, t, c, nh)[0], weights),
                    qkv.clone(), 1e-5);
            assertClose(ts.read(dqkv), numeric, FP32,
                    "attentionBackward B=" + b + " T=" + t + " C=" + c + " NH=" + nh + ", seed " + seed);
        }
    }
}
