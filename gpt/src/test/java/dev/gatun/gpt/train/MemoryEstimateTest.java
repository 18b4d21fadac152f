package dev.gatun.gpt.train;

import dev.gatun.collectives.CommOptions;
import dev.gatun.collectives.InProcessWorld;
import dev.gatun.collectives.MeshGroups;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.ops.cpu.CpuBackend;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.RankTrainer;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.RankSummary;
import dev.gatun.train.Recompute;
import dev.gatun.train.RecomputePlan;

/**
 * The estimate against the peaks the accountant measures when the same run trains on the CPU: every rank's peak of
 * each category and of their sum within 10%.
 */
@Timeout(300)
class MemoryEstimateTest {
    static final TokenDataset DATA = TokenDataset.fromText(ArithmeticCorpus.generate(3, 2_000), new ByteTokenizer());

    static Stream<Arguments> runs() {
        GptConfig tiny = GptConfig.tiny(256);
        GptConfig wide = new GptConfig(4, 4, 96, 48, 256, false);
        GptConfig longer = new GptConfig(3, 2, 32, 128, 256, true);
        GptConfig four = new GptConfig(4, 4, 64, 32, 256, true);
        return Stream.of(
                Arguments.of(tiny, layout(1, 1, 1, 0, "1f1b", 1, 1), PrecisionPolicy.FP32, 16, RecomputePlan.NONE),
                Arguments.of(tiny, layout(2, 1, 1, 1, "1f1b", 2, 1), PrecisionPolicy.FP32, 16, RecomputePlan.NONE),
                Arguments.of(tiny, layout(2, 2, 1, 2, "1f1b", 1, 1), PrecisionPolicy.BF16_MIXED, 8, RecomputePlan.NONE),
                Arguments.of(tiny, layout(2, 1, 2, 3, "1f1b", 4, 1), PrecisionPolicy.FP32, 16, RecomputePlan.NONE),
                Arguments.of(tiny, layout(1, 1, 2, 0, "gpipe", 4, 1), PrecisionPolicy.FP16_MIXED, 8, RecomputePlan.NONE),
                Arguments.of(four, layout(1, 1, 2, 1, "interleaved", 2, 2), PrecisionPolicy.FP32, 8, RecomputePlan.NONE),
                Arguments.of(wide, layout(1, 2, 2, 0, "interleaved", 4, 2), PrecisionPolicy.FP32, 8, RecomputePlan.NONE),
                Arguments.of(wide, layout(4, 1, 1, 3, "1f1b", 1, 1), PrecisionPolicy.BF16_MIXED, 8, RecomputePlan.NONE),
                Arguments.of(wide, layout(2, 1, 1, 2, "1f1b", 2, 1), PrecisionPolicy.FP32, 8, RecomputePlan.NONE),
                Arguments.of(longer, layout(1, 2, 3, 1, "1f1b", 3, 1), PrecisionPolicy.FP32, 6, RecomputePlan.NONE),
                Arguments.of(longer, layout(2, 1, 1, 3, "gpipe", 2, 1), PrecisionPolicy.FP32, 4, RecomputePlan.NONE),
                Arguments.of(longer, layout(1, 1, 1, 0, "1f1b", 1, 1), PrecisionPolicy.FP32, 6,
                        RecomputePlan.all(Recompute.SELECTIVE)),
                Arguments.of(longer, layout(1, 1, 1, 0, "1f1b", 1, 1), PrecisionPolicy.FP32, 6,
                        RecomputePlan.all(Recompute.FULL)),
                Arguments.of(tiny, layout(2, 1, 2, 3, "1f1b", 4, 1), PrecisionPolicy.FP32, 16,
                        RecomputePlan.all(Recompute.FULL)),
                Arguments.of(wide, layout(1, 2, 2, 0, "interleaved", 4, 2), PrecisionPolicy.FP32, 8,
                        RecomputePlan.all(Recompute.SELECTIVE)),
                Arguments.of(four, layout(2, 2, 1, 2, "1f1b", 2, 1), PrecisionPolicy.BF16_MIXED, 8,
                        RecomputePlan.all(Recompute.FULL).with("h1", Recompute.SELECTIVE)),
                Arguments.of(tiny, layout(1, 1, 2, 0, "zb-h1", 4, 1), PrecisionPolicy.FP32, 16, RecomputePlan.NONE),
                Arguments.of(wide, layout(2, 2, 2, 3, "zb-h1", 2, 1), PrecisionPolicy.BF16_MIXED, 8,
                        RecomputePlan.NONE),
                Arguments.of(four, layout(2, 1, 2, 2, "zb-h1", 4, 1), PrecisionPolicy.FP32, 16, RecomputePlan.NONE),
                Arguments.of(longer, layout(1, 1, 3, 1, "zb-h1", 3, 1), PrecisionPolicy.FP32, 6,
                        RecomputePlan.all(Recompute.SELECTIVE).with("h2", Recompute.FULL)),
                Arguments.of(tiny, sp(layout(1, 2, 1, 0, "1f1b", 1, 1)), PrecisionPolicy.FP32, 16, RecomputePlan.NONE),
                Arguments.of(wide, sp(layout(1, 2, 2, 1, "1f1b", 2, 1)), PrecisionPolicy.BF16_MIXED, 8,
                        RecomputePlan.NONE),
                Arguments.of(four, sp(layout(1, 4, 1, 0, "1f1b", 2, 1)), PrecisionPolicy.FP32, 8,
                        RecomputePlan.all(Recompute.SELECTIVE)),
                Arguments.of(four, sp(layout(2, 2, 2, 3, "zb-h1", 2, 1)), PrecisionPolicy.FP32, 8,
                        RecomputePlan.all(Recompute.FULL)),
                Arguments.of(longer, sp(layout(1, 2, 3, 2, "zb-h1", 3, 1)), PrecisionPolicy.FP32, 6,
                        RecomputePlan.NONE),
                Arguments.of(four, sp(layout(1, 2, 2, 0, "interleaved", 2, 2)), PrecisionPolicy.FP32, 8,
                        RecomputePlan.NONE));
    }

    static ParallelLayout sp(ParallelLayout layout) {
        return layout.withSequenceParallel(true);
    }

    static ParallelLayout layout(int dp, int tp, int pp, int zero, String schedule, int m, int v) {
        return new ParallelLayout(dp, tp, pp, ZeroStage.values()[zero], ScheduleKind.byName(schedule), m, v);
    }

    @ParameterizedTest(name = "{1} {2} recompute {4}")
    @MethodSource("runs")
    void theEstimateIsWithinTenPercentOfEveryRanksMeasuredPeaks(GptConfig config, ParallelLayout layout,
                                                                  PrecisionPolicy policy, int batch,
                                                                  RecomputePlan recompute) {
        MemoryEstimate estimate = MemoryEstimate.of(config, layout, policy, batch, recompute);
        var options = new TrainOptions(policy, new LearningRateSchedule(1e-3, 1e-4, 1, 2), 1.0f, 0f, 5, batch)
                .withRecompute(recompute);
        var result = new GptTraining(config, layout, options, CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(60)))
                .run(DATA, 2, m -> { });
        for (RankSummary r : result.ranks()) {
            var e = estimate.pipelineRanks().get(r.coordinates().pp());
            var measured = r.memory();
            StringBuilder table = new StringBuilder(layout + " " + policy.name() + " rank " + r.rank() + "\n");
            for (MemoryCategory c : MemoryCategory.values()) {
                table.append(String.format(Locale.ROOT, "  %-16s estimated %,12d measured %,12d%n", c.label(),
                        e.peak(c), measured.usage(c).peakBytes()));
            }
            table.append(String.format(Locale.ROOT, "  %-16s estimated %,12d measured %,12d (build %,d)%n",
                    "total", e.totalPeakBytes(), measured.total().peakBytes(), e.buildPeakBytes()));
            System.out.print(table);
            for (MemoryCategory c : List.of(MemoryCategory.PARAMETERS, MemoryCategory.GRADIENTS,
                    MemoryCategory.OPTIMIZER_STATE, MemoryCategory.ACTIVATIONS)) {
                within(e.peak(c), measured.usage(c).peakBytes(), c.label(), table);
            }
            within(e.totalPeakBytes(), measured.total().peakBytes(), "total", table);
        }
    }

    private static void within(long estimated, long measured, String what, CharSequence table) {
        assertTrue(Math.abs(estimated - measured) <= 0.10 * measured,
                what + ": estimated " + estimated + " vs measured " + measured + "\n" + table);
    }

    @Test
    void theCpuBackendsOwnScratchIsEstimatedToo() {
        GptConfig config = new GptConfig(2, 4, 64, 96, 256, true);
        var layout = layout(1, 2, 1, 0, "1f1b", 1, 1);
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(1e-3, 1e-4, 0, 1), 1f, 0f, 5,
                4);
        long estimated = MemoryEstimate.of(config, layout, PrecisionPolicy.FP32, 4).largest().backendScratchBytes();
        List<Long> measured = InProcessWorld.run(2, world -> {
            try (MeshGroups groups = layout.mesh().groups(world); CpuBackend backend = new CpuBackend();
                 HostAllocator allocator = new HostAllocator();
                 RankTrainer trainer = new RankTrainer(new GptModel(config), layout, options, groups, backend, allocator)) {
                var global = DATA.globalBatch(5, 0, 4, config.seqLen());
                trainer.step(0, GptModel.batch(global));
                return backend.workspaceReport().total().peakBytes();
            }
        });
        for (long m : measured) {
            within(estimated, m, "backend scratch", "");
        }
    }

    @Test
    void ranksOfOnePipelineRankAreAlikeAndTheWorldAddsThemUp() {
        GptConfig config = new GptConfig(4, 4, 64, 32, 256, true);
        var e = MemoryEstimate.of(config, layout(2, 2, 2, 1, "1f1b", 2, 1), PrecisionPolicy.FP32, 8);
        assertEquals(2, e.pipelineRanks().size());
        assertEquals(4 * (e.pipelineRanks().get(0).neededBytes() + e.pipelineRanks().get(1).neededBytes()),
                e.worldBytes());
    }

    @Test
    void aModelOfBillionsOfParametersIsEstimatedWithoutAllocatingIt() {
        GptConfig huge = new GptConfig(100_000, 4, 64, 64, 256, true); // the tiny preset's width: 4.9 G parameters
        var e = MemoryEstimate.of(huge, ParallelLayout.single(), PrecisionPolicy.FP32, 16);
        long psi = huge.parameterCount();
        assertTrue(e.largest().peak(MemoryCategory.OPTIMIZER_STATE) >= 8 * psi, e.toString());
        assertTrue(e.largest().totalPeakBytes() > 16 * psi, e.toString());
    }

    @Test
    void aLayoutThatDoesNotFitTheModelIsRefusedAsTheTrainerWould() {
        var e = assertThrows(IllegalArgumentException.class, () -> MemoryEstimate.of(GptConfig.tiny(256),
                layout(1, 3, 1, 0, "1f1b", 1, 1), PrecisionPolicy.FP32, 16));
        assertTrue(e.getMessage().contains("--tp 3"), e.getMessage());
    }
}
