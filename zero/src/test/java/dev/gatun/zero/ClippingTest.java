package dev.gatun.zero;

import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.InProcessWorld;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.ops.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(30)
class ClippingTest {
    /**
     * tp = 2 × dp = 2: "col" is tp-sharded (its gradient differs per tp rank), "ln" is replicated across tp (equal
     * on both). The norm must be √(Σ_tp ‖col_tp‖² + ‖ln‖²): ln counted once, not twice, and dp shards not repeated.
     */
    @ParameterizedTest
    @EnumSource(ZeroStage.class)
    void globalNormCountsTpReplicatedParametersOnce(ZeroStage stage) {
        int dpSize = 2;
        List<Float> norms = InProcessWorld.run(4, world -> {
            int tpRank = world.rank() % 2;
            Communicator tp = world.split(world.rank() / 2, world.rank(), "tp");
            Communicator dp = world.split(tpRank, world.rank(), "dp");
            Map<String, Shape> shapes = new LinkedHashMap<>();
            shapes.put("col", Shape.of(6));
            shapes.put("ln", Shape.of(5));
            try (HostAllocator alloc = new HostAllocator(); CpuBackend backend = new CpuBackend();
                 FlatBuffer params = new FlatBuffer(new FlatLayout(shapes, dpSize), PrecisionPolicy.FP32.paramDtype(),
                         MemoryCategory.PARAMETERS, "params", alloc, backend.stream());
                 ZeroOptimizer opt = new ZeroOptimizer(stage, PrecisionPolicy.FP32, dp, backend, alloc, params,
                         DpRun.ADAMW, new Clipping(Float.POSITIVE_INFINITY, tp, Set.of("ln")), null)) {
                opt.gatherParameters();
                FlatBuffer g = opt.gradients();
                g.view("col").copyFrom(colGrad(tpRank), backend.stream());
                g.view("ln").copyFrom(lnGrad(), backend.stream());
                opt.releaseParameters();
                float norm = opt.step().gradNorm();
                tp.close();
                dp.close();
                return norm;
            }
        });
        double sq = 0;
        for (int r = 0; r < 2; r++) {
            for (float x : colGrad(r)) {
                sq += x * x;
            }
        }
        for (float x : lnGrad()) {
            sq += x * x;
        }
        for (float n : norms) {
            assertEquals(Math.sqrt(sq), n, 1e-5 * Math.sqrt(sq));
        }
    }

    private static float[] colGrad(int tpRank) {
        return new float[]{1 + tpRank, -2, 3, 0.5f * tpRank, -1, 2};
    }

    private static float[] lnGrad() {
        return new float[]{0.3f, -0.7f, 1.1f, 2.5f, -0.2f};
    }

    @Test
    void rejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> Clipping.byGlobalNorm(0));
        assertThrows(IllegalArgumentException.class, () -> Clipping.byGlobalNorm(Float.NaN));
        assertThrows(IllegalArgumentException.class, () -> new Clipping(1, null, Set.of("ln")));
    }
}
