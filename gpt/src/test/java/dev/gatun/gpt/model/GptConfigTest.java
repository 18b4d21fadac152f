package dev.gatun.gpt.model;

import dev.gatun.collectives.InProcessWorld;
import dev.gatun.gpt.data.ByteTokenizer;
import dev.gatun.memory.HostAllocator;
import dev.gatun.ops.cpu.CpuBackend;
import dev.gatun.tp.Mappings;
import dev.gatun.tp.Parameter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.gatun.train.LayerContext;
import dev.gatun.train.Layer;

class GptConfigTest {
    @Test
    void gpt2SmallHasTheKnown124MParameters() {
        assertEquals(124_439_808L, GptConfig.gpt2Small().parameterCount());
        assertEquals(50_304, GptConfig.gpt2Small().paddedVocab(1));
        assertEquals(50_688, GptConfig.gpt2Small().paddedVocab(4));
    }

    /** The formula counts what the layers allocate (minus the padding rows of the vocabulary), tied or not. */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void parameterCountIsWhatTheLayersHold(boolean tied) {
        var config = new GptConfig(3, 2, 16, 8, ByteTokenizer.VOCAB_SIZE + 7, tied);
        long held = InProcessWorld.run(1, comm -> {
            try (CpuBackend backend = new CpuBackend(); HostAllocator allocator = new HostAllocator()) {
                var ctx = new LayerContext(backend, allocator, new Mappings(comm, allocator, backend.stream()), 1);
                List<Layer> layers = ModelPartition.of(config, 1).buildLayers(0, ctx, null);
                List<Parameter> params = new ArrayList<>();
                layers.forEach(l -> params.addAll(l.parameters()));
                long n = params.stream().mapToLong(p -> p.shape().numel()).sum();
                layers.forEach(Layer::close);
                return n;
            }
        }).getFirst();
        long padding = (long) (config.paddedVocab(1) - config.vocab()) * config.channels() * (tied ? 1 : 2);
        assertEquals(config.parameterCount(), held - padding);
    }

    @Test
    void invalidShapesAreRejectedWithTheReason() {
        assertEquals("heads=3 must divide channels=16",
                assertThrows(IllegalArgumentException.class, () -> new GptConfig(1, 3, 16, 8, 10, true)).getMessage());
        assertEquals("the pipeline has 3 stages (pp x virtual stages) but the model has 2 layers: every stage needs "
                        + "at least one, so use pp x virtual stages <= 2",
                assertThrows(IllegalArgumentException.class,
                        () -> ModelPartition.of(new GptConfig(2, 2, 16, 8, 10, true), 3)).getMessage());
    }

    @Test
    void blocksAreSpreadEvenly() {
        var p = ModelPartition.of(new GptConfig(5, 2, 16, 8, 10, true), 2);
        List<Integer> sizes = p.blocks().layersPerStage();
        assertEquals(5, sizes.get(0) + sizes.get(1));
        assertTrue(Math.abs(sizes.get(0) - sizes.get(1)) == 1, sizes.toString());
    }
}
