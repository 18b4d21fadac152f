package dev.gatun.tp;

import dev.gatun.bindings.Cuda;
import dev.gatun.collectives.InProcessWorld;
import dev.gatun.memory.CachingDeviceAllocator;
import dev.gatun.memory.CudaStream;
import dev.gatun.memory.DType;
import dev.gatun.memory.Device;
import dev.gatun.memory.HostAllocator;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.ops.cpu.CpuBackend;
import dev.gatun.ops.cuda.CudaBackend;
import dev.gatun.ops.cuda.CudaBackendOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The tensor-parallel layers at tp = 1 on the CUDA backend against the CPU backend: same seed, same random input and
 * output gradient; the outputs, input gradients and every parameter gradient agree within fp32 tolerance (TF32 off).
 * Skipped where there is no CUDA device.
 */
@Tag("gpu")
class TensorParallelGpuTest {
    private static final long B = 2;
    private static final long T = 7;
    private static final int C = 48;
    private static final int HEADS = 4;

    @BeforeAll
    static void requireGpu() {
        assumeTrue(Cuda.isAvailable(), () -> "no CUDA device: " + Cuda.unavailableReason());
    }

    /** What a layer computed: output, input gradient, parameter gradients, as host arrays. */
    private record Computed(float[] out, float[] dx, List<float[]> grads) {
    }

    private interface Layer extends AutoCloseable {
        Tensor forward(Tensor x);

        Tensor backward(Tensor dy);

        List<Parameter> parameters();

        @Override
        void close();
    }

    private interface LayerFactory {
        Layer create(Mappings mappings, Backend backend, TensorAllocator allocator);
    }

    private static Computed run(Backend backend, TensorAllocator allocator, LayerFactory factory, float[] x,
                                float[] dy) {
        // a group of one: the mappings return at once, so the communicator is only asked its size (on this thread,
        // where the CUDA stream was made)
        try (InProcessWorld world = new InProcessWorld(1)) {
            var comm = world.communicator(0);
            var stream = backend.stream();
            try (Layer layer = factory.create(new Mappings(comm, allocator, stream), backend, allocator);
                 Tensor in = Tensor.allocate(allocator, DType.FP32, Shape.of(B, T, C), MemoryCategory.ACTIVATIONS,
                         "x", stream);
                 Tensor dout = Tensor.allocate(allocator, DType.FP32, Shape.of(B, T, C), MemoryCategory.ACTIVATIONS,
                         "dy", stream)) {
                in.copyFrom(x, stream);
                dout.copyFrom(dy, stream);
                try (Tensor out = layer.forward(in); Tensor dx = layer.backward(dout)) {
                    List<float[]> grads = new ArrayList<>();
                    for (Parameter p : layer.parameters()) {
                        grads.add(p.grad().toFloatArray(stream));
                    }
                    return new Computed(out.toFloatArray(stream), dx.toFloatArray(stream), grads);
                }
            }
        }
    }

    private static void compare(LayerFactory factory) {
        float[] x = TpTesting.random("x", (int) (B * T * C));
        float[] dy = TpTesting.random("dy", (int) (B * T * C));
        Computed onCpu;
        try (CpuBackend cpu = new CpuBackend(); HostAllocator host = new HostAllocator()) {
            onCpu = run(cpu, host, factory, x, dy);
        }
        Device gpu = Device.cuda(0);
        Computed onGpu;
        try (CudaStream stream = new CudaStream(gpu); CachingDeviceAllocator memory = CachingDeviceAllocator.cuda(gpu);
             CudaBackend cuda = new CudaBackend(stream, memory, CudaBackendOptions.DEFAULT)) {
            onGpu = run(cuda, memory, factory, x, dy);
        }
        TpTesting.assertClose("output", onGpu.out(), onCpu.out());
        TpTesting.assertClose("input gradient", onGpu.dx(), onCpu.dx());
        for (int i = 0; i < onCpu.grads().size(); i++) {
            TpTesting.assertClose("parameter gradient " + i, onGpu.grads().get(i), onCpu.grads().get(i));
        }
    }

    @Test
    void parallelMlpMatchesTheCpu() {
        compare((mappings, backend, allocator) -> {
            var mlp = new ParallelMlp(C, mappings, backend, allocator, "mlp", 11);
            return new Layer() {
                public Tensor forward(Tensor x) {
                    return mlp.forward(0, x);
                }

                public Tensor backward(Tensor dy) {
                    return mlp.backward(0, dy);
                }

                public List<Parameter> parameters() {
                    return List.of(mlp.fc().weight(), mlp.fc().bias(), mlp.proj().weight(), mlp.proj().bias());
                }

                public void close() {
                    mlp.close();
                }
            };
        });
    }

    @Test
    void parallelAttentionMatchesTheCpu() {
        compare((mappings, backend, allocator) -> {
            var attn = new ParallelAttention(C, HEADS, mappings, backend, allocator, "attn", 12);
            return new Layer() {
                public Tensor forward(Tensor x) {
                    return attn.forward(0, x);
                }

                public Tensor backward(Tensor dy) {
                    return attn.backward(0, dy);
                }

                public List<Parameter> parameters() {
                    return List.of(attn.qkv().weight(), attn.qkv().bias(), attn.proj().weight(), attn.proj().bias());
                }

                public void close() {
                    attn.close();
                }
            };
        });
    }

    /** Output and table gradient of the vocab-parallel embedding, then losses and logit gradient of the loss. */
    private static List<float[]> vocabLayers(Backend backend, TensorAllocator allocator, int[] ids, float[] dy,
                                             float[] logits) {
        int vocab = 50;
        int padded = 64;
        int n = ids.length;
        try (InProcessWorld world = new InProcessWorld(1)) {
            var comm = world.communicator(0);
            var stream = backend.stream();
            var ce = new VocabParallelCrossEntropy(vocab, padded, comm, backend, allocator);
            try (var emb = new VocabParallelEmbedding(vocab, padded, C, new Mappings(comm, allocator, stream), backend,
                    allocator, "wte", 13);
                 Tensor tIds = Tensor.allocate(allocator, DType.INT32, Shape.of(n), MemoryCategory.ACTIVATIONS, "ids",
                         stream);
                 Tensor dout = Tensor.allocate(allocator, DType.FP32, Shape.of(n, C), MemoryCategory.ACTIVATIONS,
                         "dy", stream);
                 Tensor z = Tensor.allocate(allocator, DType.FP32, Shape.of(n, padded), MemoryCategory.ACTIVATIONS,
                         "logits", stream);
                 Tensor losses = Tensor.allocate(allocator, DType.FP32, Shape.of(n), MemoryCategory.ACTIVATIONS,
                         "losses", stream);
                 Tensor dz = Tensor.allocate(allocator, DType.FP32, Shape.of(n, padded), MemoryCategory.ACTIVATIONS,
                         "dlogits", stream)) {
                tIds.copyFrom(ids, stream);
                dout.copyFrom(dy, stream);
                z.copyFrom(logits, stream);
                float[] out;
                try (Tensor y = emb.forward(0, tIds)) {
                    out = y.toFloatArray(stream);
                }
                emb.backward(0, dout);
                ce.forwardBackward(z, tIds, 0.125f, losses, dz);
                return List.of(out, emb.weight().grad().toFloatArray(stream), losses.toFloatArray(stream),
                        dz.toFloatArray(stream));
            }
        }
    }

    @Test
    void vocabParallelEmbeddingAndCrossEntropyMatchTheCpu() {
        int n = (int) (B * T);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = (i * 7 + 3) % 50;
        }
        float[] dy = TpTesting.random("dy", n * C);
        float[] logits = TpTesting.random("logits", n * 64);
        List<float[]> onCpu;
        try (CpuBackend cpu = new CpuBackend(); HostAllocator host = new HostAllocator()) {
            onCpu = vocabLayers(cpu, host, ids, dy, logits);
        }
        Device gpu = Device.cuda(0);
        List<float[]> onGpu;
        try (CudaStream stream = new CudaStream(gpu); CachingDeviceAllocator memory = CachingDeviceAllocator.cuda(gpu);
             CudaBackend cuda = new CudaBackend(stream, memory, CudaBackendOptions.DEFAULT)) {
            onGpu = vocabLayers(cuda, memory, ids, dy, logits);
        }
        String[] what = {"embedding output", "embedding table gradient", "losses", "logit gradient"};
        for (int i = 0; i < what.length; i++) {
            TpTesting.assertClose(what[i], onGpu.get(i), onCpu.get(i));
        }
    }
}
