package dev.gatun.gpt.train;

import dev.gatun.train.StepMetrics;
import dev.gatun.train.Training;
import dev.gatun.train.checkpoint.ModelWeights;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Asserts that two training runs are the same run: every step's loss and gradient norm, and every final weight. */
final class SameRun {
    private SameRun() {
    }

    /** Bit for bit: the runs' losses, gradient norms and final parameters (collected with the run) are equal. */
    static void assertBitForBit(Training.Result expected, Training.Result actual, String what) {
        assertEquals(expected.steps().size(), actual.steps().size(), what + ": steps");
        for (int s = 0; s < expected.steps().size(); s++) {
            StepMetrics a = expected.steps().get(s);
            StepMetrics b = actual.steps().get(s);
            assertEquals(Double.doubleToRawLongBits(a.loss()), Double.doubleToRawLongBits(b.loss()),
                    what + ": loss of step " + s + " " + a.loss() + " vs " + b.loss());
            assertEquals(Float.floatToRawIntBits(a.gradNorm()), Float.floatToRawIntBits(b.gradNorm()),
                    what + ": gradient norm of step " + s + " " + a.gradNorm() + " vs " + b.gradNorm());
        }
        Map<String, ModelWeights.Full> want = expected.weights().all();
        Map<String, ModelWeights.Full> got = actual.weights().all();
        assertEquals(want.keySet(), got.keySet(), what);
        assertFalse(want.isEmpty(), what);
        for (var e : want.entrySet()) {
            float[] a = e.getValue().values();
            float[] b = got.get(e.getKey()).values();
            assertEquals(a.length, b.length, what + ": " + e.getKey());
            for (int i = 0; i < a.length; i++) {
                if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
                    throw new AssertionError(what + ": " + e.getKey() + "[" + i + "] " + a[i] + " vs " + b[i]);
                }
            }
        }
    }
}
