package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParameterTest {
    private static final DeviceStream CPU = DeviceStream.cpu();

    @Test
    void bindingFreesWhatTheParameterAllocatedAndKeepsWhatItIsGiven() {
        try (HostAllocator allocator = new HostAllocator()) {
            Parameter p = Parameter.constant(allocator, CPU, "ln.weight", Shape.of(4), 1f);
            Tensor ownValue = p.value();
            Tensor ownGrad = p.grad();
            assertArrayEquals(new float[]{1, 1, 1, 1}, ownValue.toFloatArray(CPU));
            assertArrayEquals(new float[4], ownGrad.toFloatArray(CPU));
            try (Tensor flat = Tensor.allocate(allocator, DType.FP32, Shape.of(10), MemoryCategory.PARAMETERS, "flat",
                    CPU)) {
                flat.fill(2f, CPU);
                Tensor view = flat.flat(3, 4).reshape(4);
                p.bind(view, ownGrad);
                assertSame(view, p.value());
                assertFalse(ownValue.isLive(), "the parameter's own value is freed when replaced");
                assertTrue(ownGrad.isLive(), "an unchanged gradient stays");
                p.close();
                assertTrue(flat.isLive(), "a bound tensor stays its owner's");
                assertFalse(ownGrad.isLive());
            }
        }
    }

    @Test
    void bindingRejectsAWrongShapeOrDtypeNamingTheParameter() {
        try (HostAllocator allocator = new HostAllocator();
             Parameter p = Parameter.gaussian(allocator, CPU, "w", Shape.of(2, 3), Shape.of(4, 3), 7, 0.02,
                     i -> i + 6);
             Tensor wrong = Tensor.allocate(allocator, DType.FP32, Shape.of(3, 2), MemoryCategory.PARAMETERS, "x",
                     CPU);
             Tensor bf16 = Tensor.allocate(allocator, DType.BF16, Shape.of(2, 3), MemoryCategory.PARAMETERS, "y",
                     CPU)) {
            var e = assertThrows(IllegalArgumentException.class, () -> p.bind(wrong, p.grad()));
            assertEquals("parameter 'w' needs an fp32 value of shape " + Shape.of(2, 3) + ", got 'x' fp32 "
                    + Shape.of(3, 2), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> p.bind(p.value(), bf16));
            assertEquals(ParameterInit.gaussian(7, "w", 11, 0.02), p.value().toFloatArray(CPU)[5]);
            assertEquals(11, p.globalIndex(5));
            assertEquals(Shape.of(4, 3), p.globalShape());
        }
    }

    /** Every layer's shards, put back by their global indices, are the tp = 1 parameters: what checkpoints rely on. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {2, 4})
    void shardsPutBackByGlobalIndexAreTheUnshardedParameters(int tp) {
        java.util.Map<String, float[]> whole = assemble(1);
        java.util.Map<String, float[]> sharded = assemble(tp);
        assertEquals(whole.keySet(), sharded.keySet());
        whole.forEach((name, values) -> assertArrayEquals(values, sharded.get(name), name));
    }

    private static java.util.Map<String, float[]> assemble(int tp) {
        java.util.Map<String, float[]> full = new java.util.TreeMap<>();
        java.util.List<java.util.List<Parameter>> unused = TpTesting.run(tp, rank -> {
            var attn = new ParallelAttention(16, 4, rank.mappings(), rank.backend(), rank.allocator(), "attn", 3);
            var mlp = new ParallelMlp(16, rank.mappings(), rank.backend(), rank.allocator(), "mlp", 3);
            var emb = new VocabParallelEmbedding(8, 16, rank.mappings(), rank.backend(), rank.allocator(), "wte", 3);
            try {
                for (Parameter p : java.util.List.of(attn.qkv().weight(), attn.qkv().bias(), attn.proj().weight(),
                        attn.proj().bias(), mlp.fc().weight(), mlp.fc().bias(), mlp.proj().weight(), mlp.proj().bias(),
                        emb.weight())) {
                    float[] local = p.value().toFloatArray(CPU);
                    synchronized (full) {
                        float[] g = full.computeIfAbsent(p.name(), k -> new float[(int) p.globalShape().numel()]);
                        for (int i = 0; i < local.length; i++) {
                            g[(int) p.globalIndex(i)] = local[i];
                        }
                    }
                }
                return java.util.List.<Parameter>of();
            } finally {
                emb.close();
                mlp.close();
                attn.close();
            }
        });
        return full;
    }
}
