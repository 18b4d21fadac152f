package dev.gatun.zero;

import dev.gatun.collectives.InProcessWorld;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.MemoryReport;
import dev.gatun.memory.Shape;
import dev.gatun.ops.cpu.CpuBackend;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Model-state bytes per rank, from the allocator's categories after a step, against the ZeRO formulas. */
@Timeout(30)
class MemoryFiguresTest {
    private static Map<String, Shape> shapes() {
        Map<String, Shape> s = new LinkedHashMap<>();
        s.put("emb", Shape.of(500, 64));
        s.put("w", Shape.of(64, 64));
        s.put("b", Shape.of(63)); // Ψ = 36159, odd: padded for dp = 2, 4
        return s;
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (PrecisionPolicy policy : new PrecisionPolicy[]{PrecisionPolicy.BF16_MIXED, PrecisionPolicy.FP32}) {
            for (int dp : new int[]{1, 2, 4}) {
                for (ZeroStage stage : ZeroStage.values()) {
                    out.add(Arguments.of(policy, dp, stage));
                }
            }
        }
        return out.stream();
    }

    /** Runs {@code body} on each of {@code dp} ranks with a fresh optimizer over {@code layout}; returns its reports. */
    private static List<MemoryReport> onRanks(int dp, FlatLayout layout, PrecisionPolicy policy, ZeroStage stage,
                                              BiConsumer<ZeroOptimizer, DeviceStream> body) {
        return InProcessWorld.run(dp, comm -> {
            try (HostAllocator alloc = new HostAllocator(); CpuBackend backend = new CpuBackend();
                 FlatBuffer params = new FlatBuffer(layout, policy.paramDtype(), MemoryCategory.PARAMETERS,
                         "params", alloc, backend.stream())) {
                for (int u = 0; u < layout.units().size(); u++) {
                    params.unit(u).fill(0.25, backend.stream());
                }
                try (ZeroOptimizer opt = new ZeroOptimizer(stage, policy, comm, backend, alloc, params, DpRun.ADAMW,
                        Clipping.NONE, policy.lossScaling() ? new DynamicLossScaler() : null)) {
                    alloc.accountant().resetPeaks(); // ZeRO-3 held the full parameters until construction
                    body.accept(opt, backend.stream());
                    return opt.memoryReport();
                }
            }
        });
    }

    @ParameterizedTest(name = "{0} dp={1} {2}")
    @MethodSource("cases")
    void bytesPerCategoryMatchTheFormula(PrecisionPolicy policy, int dp, ZeroStage stage) {
        List<MemoryReport> reports = onRanks(dp, new FlatLayout(shapes(), dp), policy, stage, (opt, stream) -> {
            opt.gatherParameters();
            fillGradients(opt, -1, stream);
            opt.releaseParameters();
            opt.step();
        });
        long psi = 36159;
        long padded = new FlatLayout(shapes(), dp).paddedNumel();
        long p = policy.paramDtype().byteSize();
        long k = policy.optimizerStateBytesPerParameter();
        long shard = stage == ZeroStage.NONE ? padded : padded / dp;
        long paramElems = stage == ZeroStage.THREE ? shard : padded;
        long gradElems = stage == ZeroStage.TWO || stage == ZeroStage.THREE ? shard : padded;
        long formula = stage.modelStateBytes(psi, dp, policy);
        for (MemoryReport r : reports) {
            long params = r.usage(MemoryCategory.PARAMETERS).currentBytes();
            long grads = r.usage(MemoryCategory.GRADIENTS).currentBytes();
            long state = r.usage(MemoryCategory.OPTIMIZER_STATE).currentBytes();
            assertEquals(p * paramElems, params, "parameters");
            assertEquals(p * gradElems, grads, "gradients");
            assertEquals(k * shard, state, "optimizer state");
            long total = params + grads + state;
            long paddingBytes = (p + p + k) * (padded - psi);
            assertTrue(Math.abs(total - formula) <= 0.05 * formula + paddingBytes,
                    "model state " + total + " vs formula " + formula);
            if (stage == ZeroStage.TWO || stage == ZeroStage.THREE) {
                // The full gradient buffer lives from gradients() to the reduce-scatter in step().
                assertEquals(p * (padded + shard), r.usage(MemoryCategory.GRADIENTS).peakBytes(), "gradient peak");
            }
        }
    }

    /** One unit per parameter of {@link #shapes()}, for dp ranks. */
    private static FlatLayout unitPerParameter(int dp) {
        Map<String, Map<String, Shape>> units = new LinkedHashMap<>();
        shapes().forEach((name, shape) -> units.put("unit." + name, Map.of(name, shape)));
        return FlatLayout.ofUnits(units, dp);
    }

    /** The most elements two consecutive units (or the last one alone) hold together. */
    private static long largestNeighbours(FlatLayout layout) {
        int n = layout.units().size();
        long most = layout.units().get(n - 1).paddedNumel();
        for (int u = 0; u + 1 < n; u++) {
            most = Math.max(most, layout.units().get(u).paddedNumel() + layout.units().get(u + 1).paddedNumel());
        }
        return most;
    }

    /** Fills every unit's gradients ({@code unit < 0}) or one unit's with 0.5. */
    private static void fillGradients(ZeroOptimizer opt, int unit, DeviceStream stream) {
        FlatBuffer g = unit < 0 ? opt.gradients() : opt.gradients(unit);
        for (int u = 0; u < opt.layout().units().size(); u++) {
            if (unit < 0 || u == unit) {
                g.unit(u).fill(0.5, stream);
            }
        }
    }

    /**
     * Unit by unit (gather, use, reduce, release), ZeRO-3 never holds more full parameters than the largest unit on top
     * of the shards; ZeRO-2/3, whose reductions overlap the backward of the next unit, hold at most the full gradients
     * of two units in a row (the one being computed and the one in flight).
     */
    @ParameterizedTest(name = "dp={0}")
    @ValueSource(ints = {2, 4})
    void unitByUnitPeaksStayWithinOneOrTwoUnits(int dp) {
        FlatLayout layout = unitPerParameter(dp);
        long largest = layout.units().stream().mapToLong(FlatLayout.Unit::paddedNumel).max().orElseThrow();
        long largestPair = largestNeighbours(layout);
        for (ZeroStage stage : new ZeroStage[]{ZeroStage.TWO, ZeroStage.THREE}) {
            PrecisionPolicy policy = PrecisionPolicy.BF16_MIXED;
            List<MemoryReport> reports = onRanks(dp, layout, policy, stage, (opt, stream) -> {
                int n = layout.units().size();
                for (int u = 0; u < n; u++) {
                    opt.gatherParameters(u);
                    opt.releaseParameters(u);
                }
                for (int u = n - 1; u >= 0; u--) {
                    opt.gatherParameters(u);
                    fillGradients(opt, u, stream);
                    opt.reduceGradients(u);
                    opt.releaseParameters(u);
                }
                assertTrue(opt.step().applied());
            });
            long p = policy.paramDtype().byteSize();
            long shard = layout.shardNumel();
            for (MemoryReport r : reports) {
                assertEquals(p * (shard + largestPair), r.usage(MemoryCategory.GRADIENTS).peakBytes(), stage + " grads");
                long paramPeak = r.usage(MemoryCategory.PARAMETERS).peakBytes();
                assertEquals(p * (stage == ZeroStage.THREE ? shard + largest : layout.paddedNumel()), paramPeak,
                        stage + " params");
            }
        }
    }

    /**
     * ZeRO-3 prefetching the next unit while one is in use: the gathered values are the shards', the full parameters
     * of at most two units in a row are held, and a unit prefetched for a use that never comes is freed by the step.
     */
    @ParameterizedTest(name = "dp={0}")
    @ValueSource(ints = {2, 4})
    void prefetchHoldsTwoUnitsAndTheStepFreesAnUnusedOne(int dp) {
        FlatLayout layout = unitPerParameter(dp);
        int n = layout.units().size();
        long largestPair = largestNeighbours(layout);
        PrecisionPolicy policy = PrecisionPolicy.FP32;
        long expectedPeak = policy.paramDtype().byteSize() * (layout.shardNumel() + largestPair);
        List<MemoryReport> reports = onRanks(dp, layout, policy, ZeroStage.THREE, (opt, stream) -> {
            for (int u = 0; u < n; u++) {
                FlatBuffer params = opt.gatherParameters(u);
                if (u + 1 < n) {
                    opt.prefetchParameters(u + 1);
                }
                for (float x : params.unit(u).toFloatArray(stream)) {
                    assertEquals(0.25f, x, "unit " + u + " gathered after a prefetch");
                }
                opt.releaseParameters(u);
            }
            for (int u = n - 1; u >= 0; u--) {
                opt.gatherParameters(u);
                if (u > 0) {
                    opt.prefetchParameters(u - 1);
                }
                fillGradients(opt, u, stream);
                opt.reduceGradients(u);
                opt.releaseParameters(u);
            }
            opt.prefetchParameters(n - 1); // a use that never comes
            assertTrue(opt.step().applied());
            assertEquals(policy.paramDtype().byteSize() * layout.shardNumel(),
                    opt.memoryReport().usage(MemoryCategory.PARAMETERS).currentBytes(), "only the shard is left");
        });
        for (MemoryReport r : reports) {
            assertEquals(expectedPeak, r.usage(MemoryCategory.PARAMETERS).peakBytes(), "parameter peak");
        }
    }
}
