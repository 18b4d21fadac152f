package dev.gatun.zero;

import dev.gatun.collectives.CommStats;
import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.InProcessWorld;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.MemoryReport;
import dev.gatun.memory.Tensor;
import dev.gatun.ops.cpu.CpuBackend;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/** Trains {@link TinyMlp} on {@code dp} in-process ranks, each on its slice of the batch, and reports per rank. */
final class DpRun {
    static final long SEED = 7;
    static final AdamWConfig ADAMW = new AdamWConfig(1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f);

    record RankResult(double[] parameters, List<ZeroOptimizer.StepResult> steps, CommStats lastStepComm,
                      MemoryReport memory, float finalLossScale) {
    }

    /** Where to put an Inf into a rank's local gradient, or none. */
    record Injection(int step, int rank) {
        static final Injection NONE = new Injection(-1, -1);
    }

    static List<RankResult> run(int dp, ZeroStage stage, PrecisionPolicy policy, int steps, Clipping clipping,
                                Supplier<DynamicLossScaler> scaler, Injection inject) {
        return run(dp, world -> world, world -> clipping, stage, policy, steps, scaler, inject);
    }

    /**
     * The same on a world of {@code worldSize} ranks, each optimizing over its data-parallel group
     * {@code dpGroup(world)} (the world, or a split of it) with {@code clippingOf(world)}; {@code inject.rank} is a
     * world rank.
     */
    static List<RankResult> run(int worldSize, Function<Communicator, Communicator> dpGroup,
                                Function<Communicator, Clipping> clippingOf, ZeroStage stage, PrecisionPolicy policy,
                                int steps, Supplier<DynamicLossScaler> scaler, Injection inject) {
        return InProcessWorld.run(worldSize, world -> {
            Communicator comm = dpGroup.apply(world);
            Clipping clipping = clippingOf.apply(world);
            int dp = comm.size();
            int rank = comm.rank();
            try (HostAllocator alloc = new HostAllocator(); CpuBackend backend = new CpuBackend()) {
                FlatLayout layout = TinyMlp.layout(dp);
                int units = layout.units().size();
                try (FlatBuffer params = new FlatBuffer(layout, policy.paramDtype(), MemoryCategory.PARAMETERS,
                        "params", alloc, backend.stream())) {
                    for (FlatLayout.Entry e : layout.entries()) {
                        params.view(e.name()).copyFrom(TinyMlp.init(SEED, e.name(), e.numel()), backend.stream());
                    }
                    try (ZeroOptimizer opt = new ZeroOptimizer(stage, policy, comm, backend, alloc, params, ADAMW,
                            clipping, scaler.get())) {
                        List<ZeroOptimizer.StepResult> results = new ArrayList<>();
                        CommStats last = null;
                        int per = TinyMlp.BATCH / dp;
                        for (int s = 0; s < steps; s++) {
                            CommStats before = comm.stats();
                            Map<String, double[]> p = new LinkedHashMap<>();
                            for (int u = 0; u < units; u++) { // forward, unit by unit
                                p.putAll(read(opt.gatherParameters(u), u, backend));
                                opt.releaseParameters(u);
                            }
                            double[][][] b = TinyMlp.batch(s);
                            Map<String, double[]> g = TinyMlp.gradients(p, b[0], b[1], rank * per, (rank + 1) * per,
                                    opt.lossScale());
                            if (s == inject.step() && world.rank() == inject.rank()) {
                                g.get("w2")[1] = Double.POSITIVE_INFINITY;
                            }
                            for (int u = units - 1; u >= 0; u--) { // backward, last unit first
                                opt.gatherParameters(u);
                                FlatBuffer grads = opt.gradients(u);
                                for (FlatLayout.Entry e : layout.units().get(u).entries()) {
                                    grads.view(e.name()).copyFrom(toFloat(g.get(e.name())), backend.stream());
                                }
                                opt.reduceGradients(u);
                                opt.releaseParameters(u);
                            }
                            results.add(opt.step());
                            last = comm.stats().minus(before);
                        }
                        MemoryReport memory = opt.memoryReport();
                        Map<String, double[]> finalParams = new LinkedHashMap<>();
                        for (int u = 0; u < units; u++) {
                            finalParams.putAll(read(opt.gatherParameters(u), u, backend));
                        }
                        opt.releaseParameters();
                        return new RankResult(TinyMlp.flatten(finalParams), results, last, memory, opt.lossScale());
                    }
                }
            }
        });
    }

    /** Unit {@code unit}'s parameters by name, as float64. */
    static Map<String, double[]> read(FlatBuffer params, int unit, CpuBackend backend) {
        Map<String, double[]> out = new LinkedHashMap<>();
        for (FlatLayout.Entry e : params.layout().units().get(unit).entries()) {
            Tensor view = params.view(e.name());
            float[] f = view.toFloatArray(backend.stream());
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) {
                d[i] = f[i];
            }
            out.put(e.name(), d);
        }
        return out;
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    private DpRun() {
    }
}
