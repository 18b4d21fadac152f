package dev.gatun.gpt.train;

import dev.gatun.collectives.CommStats;
import dev.gatun.collectives.InProcessWorld;
import dev.gatun.collectives.MeshGroups;
import dev.gatun.collectives.OpType;
import dev.gatun.gpt.data.ArithmeticCorpus;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.gpt.data.TokenDataset;
import dev.gatun.gpt.model.GptConfig;
import dev.gatun.train.Layer;
import dev.gatun.train.LayerStage;
import dev.gatun.train.LearningRateSchedule;
import dev.gatun.memory.DType;
import dev.gatun.memory.HostAllocator;
import dev.gatun.ops.cpu.CpuBackend;
import dev.gatun.tp.Parameter;
import dev.gatun.zero.PrecisionPolicy;
import dev.gatun.zero.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.gatun.train.TrainOptions;
import dev.gatun.train.checkpoint.ModelWeights;
import dev.gatun.train.RankTrainer;
import dev.gatun.train.ParallelLayout;
import dev.gatun.train.ScheduleKind;

/** A rank's step: ZeRO's communication per step over the dp group, with micro-batches and with the paper's volumes. */
@Timeout(60)
class RankTrainerTest {
    private static final GptConfig UNTIED = new GptConfig(2, 2, 16, 8, 256, false);
    private static final TokenDataset DATA =
            TokenDataset.fromText(ArithmeticCorpus.generate(3, 200), new ByteTokenizer());

    private record Counted(CommStats dp, long paddedNumel, int units) {
    }

    /** One step of dp=2 with {@code m} micro-batches; rank 0's dp-group traffic during the step. */
    private static Counted step(ZeroStage stage, int m) {
        var layout = new ParallelLayout(2, 1, 1, stage, ScheduleKind.ONE_F_ONE_B, m, 1);
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(1e-3, 1e-4, 0, 1), 1f, 0f, 5,
                8);
        List<Counted> counted = InProcessWorld.run(2, world -> {
            try (MeshGroups groups = layout.mesh().groups(world); CpuBackend backend = new CpuBackend();
                 HostAllocator allocator = new HostAllocator();
                 RankTrainer trainer = new RankTrainer(new GptModel(UNTIED), layout, options, groups, backend,
                         allocator)) {
                CommStats before = groups.dp().stats();
                var global = DATA.globalBatch(5, 0, 8, UNTIED.seqLen());
                var r = trainer.step(0, GptModel.batch(DATA.shard(global, groups.coordinates().dp(), 2)));
                assertTrue(r.update().applied());
                return new Counted(groups.dp().stats().minus(before), trainer.optimizer().layout().paddedNumel(),
                        trainer.optimizer().layout().units().size());
            }
        });
        return counted.getFirst();
    }

    @ParameterizedTest
    @EnumSource(value = ZeroStage.class, names = {"ONE", "TWO", "THREE"})
    void shardedStagesReduceEachLayerOncePerStepWhateverTheMicroBatches(ZeroStage stage) {
        Counted c = step(stage, 4);
        assertEquals(4, c.units(), "embedding, 2 blocks, head");
        assertEquals(c.units(), c.dp().calls(OpType.REDUCE_SCATTER), c.dp().toString());
        assertEquals(c.paddedNumel() * Float.BYTES, c.dp().bytes(OpType.REDUCE_SCATTER), c.dp().toString());
    }

    @ParameterizedTest
    @EnumSource(ZeroStage.class)
    void communicationPerStepIsThePapersVolume(ZeroStage stage) {
        Counted c = step(stage, 1);
        CommStats s = c.dp();
        long scalarsAndLoss = 3L * Float.BYTES; // overflow flag, squared norm, reported loss
        long bytes = 2 * (s.bytes(OpType.ALL_REDUCE) - scalarsAndLoss) + s.bytes(OpType.REDUCE_SCATTER)
                + s.bytes(OpType.ALL_GATHER);
        assertEquals(stage.communicatedElements(c.paddedNumel()) * Float.BYTES, bytes, s.toString());
    }

    /**
     * Under bf16 the linear layers' GEMMs read the weights in bf16 from the optimizer's buffer (every ZeRO stage,
     * ZeRO-3 rebinding after its gathers) and those weights keep no fp32 copy; LayerNorms, biases and embeddings do.
     */
    @ParameterizedTest
    @EnumSource(ZeroStage.class)
    void bf16TrainingComputesTheLinearLayersInBf16(ZeroStage stage) {
        var layout = new ParallelLayout(2, 1, 1, stage, ScheduleKind.ONE_F_ONE_B, 1, 1);
        var options = new TrainOptions(PrecisionPolicy.BF16_MIXED, new LearningRateSchedule(1e-3, 1e-4, 0, 1), 1f,
                0f, 5, 8);
        List<Map<String, DType>> seen = InProcessWorld.run(2, world -> {
            try (MeshGroups groups = layout.mesh().groups(world); CpuBackend backend = new CpuBackend();
                 HostAllocator allocator = new HostAllocator();
                 RankTrainer trainer = new RankTrainer(new GptModel(UNTIED), layout, options, groups, backend,
                         allocator)) {
                var global = DATA.globalBatch(5, 0, 8, UNTIED.seqLen());
                assertTrue(trainer.step(0, GptModel.batch(DATA.shard(global, groups.coordinates().dp(), 2))).update().applied());
                Map<String, DType> dtypes = new TreeMap<>();
                for (LayerStage st : trainer.stages()) {
                    for (Layer l : st.layers()) {
                        for (Parameter p : l.parameters()) {
                            dtypes.put(p.name(), p.compute().dtype());
                            if (l.computeOnly().contains(p.name())) {
                                assertThrows(IllegalStateException.class, p::value, p.name() + " keeps no fp32 copy");
                            } else {
                                assertEquals(DType.FP32, p.value().dtype(), p.name());
                            }
                        }
                    }
                }
                return dtypes;
            }
        });
        Map<String, DType> dtypes = seen.getFirst();
        assertEquals(DType.BF16, dtypes.get("h0.mlp.fc.weight"), dtypes.toString());
        assertEquals(DType.BF16, dtypes.get("h1.attn.proj.weight"), dtypes.toString());
        assertEquals(DType.BF16, dtypes.get("lm_head.weight"), dtypes.toString());
    }

    @Test
    void aBatchOfTheWrongSizeIsRejected() {
        var layout = new ParallelLayout(1, 1, 1, ZeroStage.NONE, ScheduleKind.ONE_F_ONE_B, 1, 1);
        var options = new TrainOptions(PrecisionPolicy.FP32, new LearningRateSchedule(1e-3, 1e-4, 0, 1), 1f, 0f, 5,
                8);
        var e = assertThrows(RuntimeException.class, () -> InProcessWorld.run(1, world -> {
            try (MeshGroups groups = layout.mesh().groups(world); CpuBackend backend = new CpuBackend();
                 HostAllocator allocator = new HostAllocator();
                 RankTrainer trainer = new RankTrainer(new GptModel(UNTIED), layout, options, groups, backend,
                         allocator)) {
                return trainer.step(0, GptModel.batch(DATA.globalBatch(5, 0, 4, UNTIED.seqLen())));
            }
        }));
        Throwable root = e;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        assertEquals("rank batch must be 8 examples (the global batch of 8 over dp 1), got 4", root.getMessage());
    }

    /**
     * bf16 from given fp32 weights: the master is those weights bit for bit at step 0, on every rank's shard, not
     * their bf16 rounding cast back (which loses up to half a bf16 step of every weight).
     */
    @ParameterizedTest
    @EnumSource(value = ZeroStage.class, names = {"NONE", "ONE", "THREE"})
    void theMasterOfMixedPrecisionIsTheGivenFp32WeightsBitForBit(ZeroStage stage) {
        var schedule = new LearningRateSchedule(1e-3, 1e-4, 0, 1);
        var fp32 = new TrainOptions(PrecisionPolicy.FP32, schedule, 1f, 0f, 99, 8);
        ModelWeights given = new GptTraining(UNTIED, ParallelLayout.single(), fp32,
                dev.gatun.collectives.CommOptions.DEFAULT).run(DATA, 0, m -> { }, true).weights();
        var layout = new ParallelLayout(2, 2, 1, stage, ScheduleKind.ONE_F_ONE_B, 1, 1);
        var bf16 = new TrainOptions(PrecisionPolicy.BF16_MIXED, schedule, 1f, 0f, 5, 8).withInitialWeights(given);
        List<Long> checked = InProcessWorld.run(4, world -> {
            try (MeshGroups groups = layout.mesh().groups(world); CpuBackend backend = new CpuBackend();
                 HostAllocator allocator = new HostAllocator();
                 RankTrainer trainer = new RankTrainer(new GptModel(UNTIED), layout, bf16, groups, backend,
                         allocator)) {
                var opt = trainer.optimizer();
                float[] master = opt.ownedState().get("master").toFloatArray(backend.stream());
                long[] local = new long[opt.layout().units().size()];
                for (int u = 1; u < local.length; u++) {
                    local[u] = local[u - 1] + opt.ownedShard(u - 1).size();
                }
                long n = 0;
                for (LayerStage st : trainer.stages()) {
                    for (Layer l : st.layers()) {
                        for (Parameter p : l.parameters()) {
                            var e = opt.layout().entry(p.name());
                            var owned = opt.ownedShard(e.unit());
                            float[] full = given.get(p.name()).values();
                            for (long i = 0; i < e.numel(); i++) {
                                long at = e.offset() + i - owned.offset();
                                if (at >= 0 && at < owned.size()) {
                                    float want = full[(int) p.globalIndex(i)];
                                    assertEquals(Float.floatToRawIntBits(want),
                                            Float.floatToRawIntBits(master[(int) (local[e.unit()] + at)]),
                                            p.name() + "[" + i + "]");
                                    n++;
                                }
                            }
                        }
                    }
                }
                return n;
            }
        });
        assertTrue(checked.stream().allMatch(c -> c > 0), "every rank holds master elements: " + checked);
    }
}
