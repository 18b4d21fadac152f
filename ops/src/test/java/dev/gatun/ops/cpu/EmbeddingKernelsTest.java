package dev.gatun.ops.cpu;

import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.gatun.ops.cpu.Numerics.FP32;
import static dev.gatun.ops.cpu.Numerics.assertClose;
import static dev.gatun.ops.cpu.Numerics.minus;
import static dev.gatun.ops.cpu.Numerics.numericGradient;
import static dev.gatun.ops.cpu.Numerics.random;
import static dev.gatun.ops.cpu.Numerics.randomInts;
import static dev.gatun.ops.cpu.Numerics.times;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Token + position embedding through {@link CpuBackend}: forward, backward by finite differences, bad token ids. */
class EmbeddingKernelsTest extends CpuBackendTestBase {
    @ParameterizedTest
    @CsvSource({"2, 5, 12, 37, 7", "1, 1, 37, 1, 1", "4, 64, 45, 50, 64"})
    void forwardMatchesReferenceAndBackwardAccumulatesFiniteDifferences(int b, int t, int c, int v, int maxT) {
        long seed = 71L * c + v;
        Random random = new Random(seed);
        try (TestTensors ts = new TestTensors()) {
            int[] tokens = randomInts(random, b * t, v);
            tokens[tokens.length - 1] = tokens[0]; // a repeated id, whose gradient rows add up
            double[] wte = random(random, v * c, 1);
            double[] wpe = random(random, maxT * c, 1);
            Tensor tTokens = ts.ints("tokens", tokens, b, t);
            Tensor out = ts.poisoned("out", b, t, c);
            backend.embedding(tTokens, ts.fp32("wte", wte, v, c), ts.fp32("wpe", wpe, maxT, c), out);
            String what = "embedding B=" + b + " T=" + t + " C=" + c + " V=" + v + ", seed " + seed;
            assertClose(ts.read(out), Reference.embedding(tokens, wte, wpe, t, c), FP32, what);

            double[] weights = random(random, b * t * c, 1);
            double[] dwteStart = random(random, v * c, 1);
            double[] dwpeStart = random(random, maxT * c, 1);
            Tensor dwte = ts.fp32("dwte", dwteStart, v, c);
            Tensor dwpe = ts.fp32("dwpe", dwpeStart, maxT, c);
            Tensor dout = ts.fp32("dout", weights, b, t, c);
            double[] gWte = numericGradient(x -> Numerics.dot(Reference.embedding(tokens, x, wpe, t, c), weights),
                    wte.clone(), 1e-3);
            double[] gWpe = numericGradient(x -> Numerics.dot(Reference.embedding(tokens, wte, x, t, c), weights),
                    wpe.clone(), 1e-3);
            for (int call = 1; call <= 2; call++) {
                backend.embeddingBackward(dout, tTokens, dwte, dwpe);
                assertClose(minus(ts.read(dwte), dwteStart), times(call, gWte), FP32, what + ": dwte, call " + call);
                assertClose(minus(ts.read(dwpe), dwpeStart), times(call, gWpe), FP32, what + ": dwpe, call " + call);
            }
        }
    }

    @Test
    void tokenIdsOutsideTheVocabularyAreNamedWithTheirPosition() {
        try (TestTensors ts = new TestTensors()) {
            Tensor wte = ts.fp32("wte", random(new Random(73), 37 * 12, 1), 37, 12);
            Tensor wpe = ts.fp32("wpe", random(new Random(74), 5 * 12, 1), 5, 12);
            Tensor tokens = ts.ints("tokens", new int[]{0, 1, 2, 3, 4, 36, 5, -1, 37, 6}, 2, 5);
            IllegalArgumentException forward = assertThrows(IllegalArgumentException.class,
                    () -> backend.embedding(tokens, wte, wpe, ts.poisoned("out", 2, 5, 12)));
            assertEquals("embedding: token id -1 at position [1, 2] is outside [0, 37)", forward.getMessage());
            IllegalArgumentException backward = assertThrows(IllegalArgumentException.class,
                    () -> backend.embeddingBackward(ts.poisoned("dout", 2, 5, 12), tokens, wte, wpe));
            assertEquals("embeddingBackward: token id -1 at position [1, 2] is outside [0, 37)",
                    backward.getMessage());
        }
    }
}
