package dev.gatun.e2e;

import dev.gatun.bindings.Cuda;
import dev.gatun.collectives.CommOptions;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.RankPlacement;
import dev.gatun.train.ScheduleKind;
import dev.gatun.train.StepMetrics;
import dev.gatun.train.TrainOptions;
import dev.gatun.ops.cuda.CudaBackendOptions;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import dev.gatun.gpt.train.GptModel;
import dev.gatun.gpt.train.GptTraining;

/**
 * The trainer on CUDA: five steps on GPUs (one per rank, NCCL) give the loss curve of one CPU rank with the same seed
 * and batch, within the summation-order differences of two backends; the command line trains on a GPU. (The
 * torchrun path, {@code gatun launch --nproc N -- train --device cuda}, starts JVMs from this one's class path, which
 * under the JUnit console launcher is not the project's: it is run from {@code .gpu/run.sh --main} instead.)
 * Layouts of more than one rank need as many GPUs and are skipped with the reason otherwise. Skipped where there is
 * no CUDA device.
 */
@Tag("gpu")
@Timeout(600)
class CudaTrainingGpuTest {
    private static final int STEPS = 5;
    private static final GptConfig CONFIG = new GptConfig(4, 4, 32, 16, 256, true);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(11, 500), new ByteTokenizer());

    @BeforeAll
    static void requireGpu() {
        assumeTrue(Cuda.isAvailable(), () -> "no CUDA device: " + Cuda.unavailableReason());
    }

    private static double[] losses(ParallelLayout layout, PrecisionPolicy policy, RankPlacement placement) {
        var options = new TrainOptions(policy, new LearningRateSchedule(3e-3, 3e-4, 2, STEPS), 1.0f, 0.01f, 42, 8);
        var run = new GptTraining(CONFIG, layout, options, CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(120)))
                .withPlacement(placement).run(DATA, STEPS, m -> { });
        return run.steps().stream().mapToDouble(StepMetrics::loss).toArray();
    }

    @ParameterizedTest(name = "dp={0} tp={1} pp={2} zero={3} {4}")
    @CsvSource({"1, 1, 1, 0, fp32", "1, 1, 1, 0, bf16", "2, 1, 1, 2, fp32", "1, 2, 1, 0, fp32", "1, 1, 2, 0, fp32",
            "2, 2, 2, 3, bf16"})
    void gpusGiveTheLossCurveOfOneCpuRank(int dp, int tp, int pp, int zero, String precision) {
        int ranks = dp * tp * pp;
        assumeTrue(Cuda.deviceCount() >= ranks, () -> ranks + " ranks need " + ranks + " GPUs; this machine has "
                + Cuda.deviceCount());
        PrecisionPolicy policy = precision.equals("bf16") ? PrecisionPolicy.BF16_MIXED : PrecisionPolicy.FP32;
        var layout = new ParallelLayout(dp, tp, pp, ZeroStage.values()[zero], ScheduleKind.ONE_F_ONE_B,
                pp > 1 ? 2 : 1, 1);
        double[] cpu = losses(ParallelLayout.single(), policy, RankPlacement.cpuThreads());
        double[] gpu = losses(layout, policy, RankPlacement.localGpus(CudaBackendOptions.DEFAULT));
        assertTrue(cpu[STEPS - 1] < cpu[0] - 0.1, "the reference must learn: " + Arrays.toString(cpu));
        double tolerance = policy == PrecisionPolicy.FP32 ? 1e-4 : 1e-3;
        for (int i = 0; i < STEPS; i++) {
            double rel = Math.abs(gpu[i] - cpu[i]) / Math.abs(cpu[i]);
            assertTrue(rel <= tolerance, layout + " " + precision + ": step " + i + " loss " + gpu[i] + " on GPUs vs "
                    + cpu[i] + " on one CPU rank (relative " + rel + " > " + tolerance + ")\n  gpu: "
                    + Arrays.toString(gpu) + "\n  cpu: " + Arrays.toString(cpu));
        }
    }

    /**
     * The Llama model's kernels on CUDA (RMSNorm, rotary, SwiGLU, grouped-query attention): the tiny preset on one
     * GPU gives the loss curve of one CPU rank, in fp32 and bf16.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"fp32", "bf16"})
    void theLlamaModelOnOneGpuGivesTheCurveOfOneCpuRank(String precision) {
        PrecisionPolicy policy = precision.equals("bf16") ? PrecisionPolicy.BF16_MIXED : PrecisionPolicy.FP32;
        var config = new dev.gatun.llama.LlamaConfig(2, 4, 2, 32, 96, 16, 256, true, 500_000,
                new dev.gatun.ops.RotaryFrequencies.Llama3Scaling(8, 1, 4, 8), 1e-5f);
        var options = new TrainOptions(policy, new LearningRateSchedule(3e-3, 3e-4, 2, STEPS), 1.0f, 0.01f, 42, 8);
        dev.gatun.train.DataSource data = GptModel.tokens(DATA, 42, 8, config.seqLen());
        double[][] curves = new double[2][];
        RankPlacement[] placements = {RankPlacement.cpuThreads(), RankPlacement.localGpus(CudaBackendOptions.DEFAULT)};
        for (int i = 0; i < 2; i++) {
            curves[i] = new dev.gatun.train.Training(new dev.gatun.llama.LlamaModel(config), ParallelLayout.single(),
                    options, CommOptions.DEFAULT.withTimeout(Duration.ofSeconds(120))).withPlacement(placements[i])
                    .run(data, STEPS, m -> { }).steps().stream().mapToDouble(StepMetrics::loss).toArray();
        }
        double tolerance = policy == PrecisionPolicy.FP32 ? 1e-4 : 1e-3;
        for (int s = 0; s < STEPS; s++) {
            double rel = Math.abs(curves[1][s] - curves[0][s]) / Math.abs(curves[0][s]);
            assertTrue(rel <= tolerance, precision + " step " + s + ": gpu " + Arrays.toString(curves[1]) + " vs cpu "
                    + Arrays.toString(curves[0]));
        }
    }

    /** The split backward's kernels on CUDA: ZB-H1 on one GPU (pp 1, m 4) gives 1F1B's losses there. */
    @Test
    void zeroBubbleOnOneGpuGivesThe1F1BLosses() {
        var placement = RankPlacement.localGpus(CudaBackendOptions.DEFAULT);
        double[] oneF = losses(new ParallelLayout(1, 1, 1, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 4, 1),
                PrecisionPolicy.BF16_MIXED, placement);
        double[] zb = losses(new ParallelLayout(1, 1, 1, ZeroStage.NONE, ScheduleKind.ZB_H1, 4, 1),
                PrecisionPolicy.BF16_MIXED, placement);
        for (int i = 0; i < STEPS; i++) {
            assertEquals(oneF[i], zb[i], 1e-6 * Math.abs(oneF[i]), "step " + i + ": zb-h1 " + Arrays.toString(zb)
                    + " vs 1f1b " + Arrays.toString(oneF));
        }
    }

    @Test
    void theTinyPresetTrainsOnOneGpuFromTheCommandLine(@TempDir Path dir) {
        Cli.Run r = TrainCommandTest.train("--device", "cuda", "--steps", "60", "--out", dir.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("1 rank as a thread on cuda:0 (NCCL)"), r.out());
        var loss = java.util.regex.Pattern.compile("loss +([0-9.]+) -> ([0-9.]+)").matcher(r.out());
        assertTrue(loss.find(), r.out());
        assertTrue(Double.parseDouble(loss.group(2)) < Double.parseDouble(loss.group(1)) - 1, r.out());
        System.out.println(r.out());
    }
}
