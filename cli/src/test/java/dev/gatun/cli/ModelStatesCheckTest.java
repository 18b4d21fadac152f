package dev.gatun.cli;

import dev.gatun.llama.LlamaConfig;
import dev.gatun.train.MemoryLimit;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Llama memory check: each rank's parameters add up to the model's, and a model too large is refused. */
class ModelStatesCheckTest {
    @ParameterizedTest
    @CsvSource({"1, 1, 1, true", "2, 1, 1, true", "1, 2, 1, true", "2, 3, 1, false", "1, 2, 2, true",
            "2, 2, 2, false"})
    void theRanksHoldTheModelsParameters(int tp, int pp, int v, boolean tied) {
        var config = new LlamaConfig(6, 4, 2, 32, 96, 16, 200, tied, 10_000, null, 1e-5f);
        var layout = new ParallelLayout(1, tp, pp, ZeroStage.NONE, v > 1 ? ScheduleKind.INTERLEAVED
                : ScheduleKind.ONE_F_ONE_B, 2 * pp, v);
        long sum = 0;
        for (int r = 0; r < pp; r++) {
            sum += ModelStatesCheck.rankParameters(config, layout, r) * tp;
        }
        long padded = (long) config.paddedVocab(tp) * config.channels();
        long vocab = (long) config.vocab() * config.channels();
        long norms = 2L * config.layers() * config.channels() + config.channels(); // replicated on every tp rank
        long copies = !tied || layout.stages() > 1 ? 2 : 1;
        assertEquals(config.parameterCount() + copies * (padded - vocab) - (tied && copies == 2 ? -vocab : 0)
                + (tp - 1) * norms, sum);
    }

    @Test
    void llama8BIsRefusedOnAMachineOf24GiB() {
        var layout = ParallelLayout.single();
        var check = new ModelStatesCheck(LlamaConfig.llama31_8b(64), layout, PrecisionPolicy.FP32,
                new MemoryLimit(24L << 30, true, "host memory"));
        assertFalse(check.fits());
        String why = check.refusal().orElseThrow();
        assertTrue(why.startsWith("not enough memory: at least 119."), why);
        var gpus = new ModelStatesCheck(LlamaConfig.llama31_8b(64), layout, PrecisionPolicy.BF16_MIXED,
                new MemoryLimit(80L << 30, false, "free memory of cuda:0"));
        assertTrue(gpus.refusal().orElseThrow().contains("--dp 2 --zero 3 (2 GPUs)"), gpus.refusal().orElseThrow());
    }
}
