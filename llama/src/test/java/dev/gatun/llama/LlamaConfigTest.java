package dev.gatun.llama;

import dev.gatun.collectives.InProcessWorld;
import dev.gatun.memory.HostAllocator;
import dev.gatun.ops.cpu.CpuBackend;
import dev.gatun.tp.Mappings;
import dev.gatun.tp.Parameter;
import dev.gatun.train.Layer;
import dev.gatun.train.LayerContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The presets have the published shapes and parameter counts, and a built model holds exactly what the count says. */
class LlamaConfigTest {
    @Test
    void thePresetsCountThePublishedParameters() {
        assertEquals(1_235_814_400L, LlamaConfig.llama32_1b(2048).parameterCount(), "Llama 3.2 1B");
        assertEquals(8_030_261_248L, LlamaConfig.llama31_8b(2048).parameterCount(), "Llama 3.1 8B");
        assertEquals(64, LlamaConfig.llama32_1b(2048).headSize());
        assertEquals(128, LlamaConfig.llama31_8b(2048).headSize());
    }

    /** Built on tp ranks, the parameters' global sizes add up to the count (plus the vocabulary's padding rows). */
    @ParameterizedTest
    @CsvSource({"1, true", "2, true", "2, false"})
    void aBuiltModelHoldsTheCountedParameters(int tp, boolean tied) {
        var config = new LlamaConfig(3, 4, 2, 32, 96, 16, 200, tied, 10_000, null, 1e-5f);
        long padding = (long) (config.paddedVocab(tp) - config.vocab()) * config.channels() * (tied ? 1 : 2);
        List<Long> counted = InProcessWorld.run(tp, comm -> {
            try (CpuBackend backend = new CpuBackend(); HostAllocator allocator = new HostAllocator()) {
                var ctx = new LayerContext(backend, allocator, new Mappings(comm, allocator, backend.stream()), 1);
                List<Layer> layers = new LlamaModel(config).buildStage(0, 1, ctx);
                try {
                    long n = 0;
                    for (Layer l : layers) {
                        for (Parameter p : l.parameters()) {
                            n += p.globalShape().numel();
                        }
                    }
                    return n;
                } finally {
                    layers.forEach(Layer::close);
                }
            }
        });
        for (long n : counted) {
            assertEquals(config.parameterCount() + padding, n);
        }
    }

    @Test
    void badShapesAreRefusedWithTheReason() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new LlamaConfig(2, 4, 3, 32, 96, 16, 256, true, 10_000, null, 1e-5f));
        assertEquals("kvHeads=3 must divide heads=4", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new LlamaConfig(2, 4, 2, 36, 96, 16, 256, true, 10_000, null, 1e-5f));
        assertEquals("heads=4 must divide channels=36 into heads of an even size (the rotary embedding turns pairs)",
                e.getMessage());
    }
}
