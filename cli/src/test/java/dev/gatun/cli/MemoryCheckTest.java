package dev.gatun.cli;

import dev.gatun.gpt.model.GptConfig;
import dev.gatun.gpt.train.MemoryEstimate;
import dev.gatun.train.MemoryLimit;
import dev.gatun.train.Recompute;
import dev.gatun.train.RecomputePlan;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.memory.ByteSize;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The check against given limits: a run that fits passes; one that does not is refused with changes that fit. */
class MemoryCheckTest {
    private static final GptConfig TINY = GptConfig.tiny(256);
    private static final GptConfig WIDE = new GptConfig(4, 8, 256, 128, 1024, true);

    private static ParallelLayout layout(int dp, int tp, int pp, ZeroStage zero, int m) {
        return new ParallelLayout(dp, tp, pp, zero, ScheduleKind.ONE_F_ONE_B, m, 1);
    }

    private static long world(GptConfig c, ParallelLayout l, PrecisionPolicy p, int batch) {
        return MemoryEstimate.of(c, l, p, batch).worldBytes();
    }

    @Test
    void aRunThatFitsIsNotRefusedAndItsLineNamesTheEstimateAndTheLimit() {
        var check = new MemoryCheck(TINY, ParallelLayout.single(), PrecisionPolicy.FP32, 16,
                new MemoryLimit(1L << 30, true, "host memory available (MemAvailable)"));
        assertTrue(check.fits());
        assertTrue(check.refusal().isEmpty());
        assertTrue(check.describe().startsWith("about " + ByteSize.format(check.needed()) + " at the peak"),
                check.describe());
        assertTrue(check.describe().endsWith("1.00 GiB of host memory available (MemAvailable)"), check.describe());
    }

    @Test
    void ranksSharingTheHostAddUpAndTheCheapestChangesThatFitAreNamedFirst() {
        var layout = layout(2, 1, 1, ZeroStage.NONE, 1);
        long need = world(TINY, layout, PrecisionPolicy.FP32, 16);
        var check = new MemoryCheck(TINY, layout, PrecisionPolicy.FP32, 16, new MemoryLimit(need - 1, true, "host"));
        assertEquals(need, check.needed());
        String why = check.refusal().orElseThrow();
        long zero1 = world(TINY, layout(2, 1, 1, ZeroStage.ONE, 1), PrecisionPolicy.FP32, 16);
        long zero2 = world(TINY, layout(2, 1, 1, ZeroStage.TWO, 1), PrecisionPolicy.FP32, 16);
        assertTrue(why.startsWith("not enough memory: this run needs about " + ByteSize.format(need)
                + " at the peak for the 2 ranks of this process"), why);
        assertTrue(why.contains(": --zero 1 brings it to " + ByteSize.format(zero1) + "; --zero 2 brings it to "
                + ByteSize.format(zero2)), why);
        assertTrue(why.endsWith(ByteSize.format(zero2)), why);
    }

    @Test
    void aGpuRankIsCheckedAloneAndMayBeOfferedMoreGpus() {
        var layout = layout(1, 1, 1, ZeroStage.NONE, 1);
        var estimate = MemoryEstimate.of(WIDE, layout, PrecisionPolicy.BF16_MIXED, 8);
        long rank = estimate.largest().neededBytes();
        long limit = rank - 1;
        var check = new MemoryCheck(WIDE, layout, PrecisionPolicy.BF16_MIXED, 8,
                new MemoryLimit(limit, false, "free memory of cuda:0"));
        assertEquals(rank, check.needed());
        String why = check.refusal().orElseThrow();
        // more micro-batches shrink the activations first; every change named fits under the limit
        long m2 = MemoryEstimate.of(WIDE, layout(1, 1, 1, ZeroStage.NONE, 2), PrecisionPolicy.BF16_MIXED, 8)
                .largest().neededBytes();
        assertTrue(m2 <= limit);
        assertTrue(why.contains(": --microbatches 2 brings it to " + ByteSize.format(m2) + ";"), why);
        assertTrue(why.contains("of free memory of cuda:0"), why);
    }

    @Test
    void aTensorParallelRunIsOfferedSequenceParallelism() {
        var layout = layout(1, 2, 1, ZeroStage.NONE, 1);
        long need = world(WIDE, layout, PrecisionPolicy.FP32, 8);
        long sp = world(WIDE, layout.withSequenceParallel(true), PrecisionPolicy.FP32, 8);
        assertTrue(sp < need, sp + " vs " + need);
        var check = new MemoryCheck(WIDE, layout, PrecisionPolicy.FP32, 8, new MemoryLimit(need - 1, true, "host"));
        String why = check.refusal().orElseThrow();
        assertTrue(why.contains("--sequence-parallel brings it to " + ByteSize.format(sp)), why);
    }

    @Test
    void theTensorParallelChangeNeedsMoreGpusAndSaysSo() {
        var layout = layout(1, 1, 1, ZeroStage.NONE, 1);
        long rank = MemoryEstimate.of(WIDE, layout, PrecisionPolicy.FP32, 1).largest().neededBytes();
        long tp2 = MemoryEstimate.of(WIDE, layout(1, 2, 1, ZeroStage.NONE, 1), PrecisionPolicy.FP32, 1)
                .largest().neededBytes();
        var check = new MemoryCheck(WIDE, layout, PrecisionPolicy.FP32, 1,
                new MemoryLimit((rank + tp2) / 2, false, "free memory of cuda:0"));
        String why = check.refusal().orElseThrow();
        assertTrue(why.contains("--tp 2 (2 GPUs) brings it to " + ByteSize.format(tp2)), why);
    }

    @Test
    void whenNothingFitsTheRefusalSaysToShrinkTheModel() {
        var check = new MemoryCheck(TINY, layout(2, 1, 1, ZeroStage.NONE, 1), PrecisionPolicy.FP32, 16,
                new MemoryLimit(1024, true, "host"));
        String why = check.refusal().orElseThrow();
        assertTrue(why.contains("no change of --zero, --recompute, --microbatches, --precision or --batch fits: use a smaller "
                + "model (--layers, --channels, --seq-len) or a machine with more memory"), why);
        assertFalse(why.contains("brings it to"), why);
    }

    @Test
    void recomputationIsOfferedWhenItFitsAndTheEstimateFollowsIt() {
        GptConfig longer = new GptConfig(2, 4, 64, 128, 256, true);
        var layout = layout(1, 1, 1, ZeroStage.NONE, 1);
        long none = MemoryEstimate.of(longer, layout, PrecisionPolicy.FP32, 1).worldBytes();
        long selective = MemoryEstimate.of(longer, layout, PrecisionPolicy.FP32, 1,
                RecomputePlan.all(Recompute.SELECTIVE)).worldBytes();
        long full = MemoryEstimate.of(longer, layout, PrecisionPolicy.FP32, 1, RecomputePlan.all(Recompute.FULL))
                .worldBytes();
        assertTrue(full < selective && selective < none, full + " < " + selective + " < " + none);
        var check = new MemoryCheck(longer, layout, PrecisionPolicy.FP32, 1, new MemoryLimit(full, true, "host"));
        String why = check.refusal().orElseThrow();
        assertTrue(why.endsWith(": --recompute full brings it to " + ByteSize.format(full)), why);
        var recomputing = new MemoryCheck(longer, layout, PrecisionPolicy.FP32, 1, RecomputePlan.all(Recompute.FULL),
                new MemoryLimit(full, true, "host"));
        assertEquals(full, recomputing.needed());
        assertTrue(recomputing.refusal().isEmpty());
    }
}
