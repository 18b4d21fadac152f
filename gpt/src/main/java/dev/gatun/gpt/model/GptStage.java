package dev.gatun.gpt.model;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.pipeline.PipelineStage;
import dev.gatun.pipeline.TensorSpec;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Consecutive layers of the model as one pipeline stage (model chunk). The stage copies its input (the executor's
 * tensor lives only during the call) and keeps each layer's input of a micro-batch until that micro-batch's
 * backward, since layers keep their inputs by reference. Stage 0 takes int32 ids {@code [B, T]}; the others take
 * activations {@code [B, T, C]}; the last returns the logits {@code [B·T, Vp/tp]}.
 */
public final class GptStage implements PipelineStage, AutoCloseable {
    private final int index;
    private final List<GptLayer> layers;
    private final LayerContext ctx;
    private final LayerHooks hooks;
    private final int microBatches;
    private final TensorSpec input;
    private final TensorSpec output;
    private final Map<Integer, List<Tensor>> inputs = new HashMap<>();
    /** Backwards run this step: the one that makes it {@code microBatches} is the step's last. */
    private int backwards;

    /**
     * @param index           the stage's place in the model
     * @param layers          its layers in model order (an {@link EmbeddingLayer} first on stage 0, the
     *                        {@link LmHead} last on the last stage)
     * @param microBatchSize  sequences per micro-batch
     * @param microBatches    micro-batches per step (the backward of the last one ends the layers' gradients)
     */
    public GptStage(int index, List<GptLayer> layers, GptConfig config, LayerContext ctx, LayerHooks hooks,
                    int microBatchSize, int microBatches) {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("stage " + index + " has no layers");
        }
        this.index = index;
        this.layers = List.copyOf(layers);
        this.ctx = ctx;
        this.hooks = Objects.requireNonNull(hooks, "hooks must not be null");
        this.microBatches = microBatches;
        long b = microBatchSize;
        long t = config.seqLen();
        this.input = layers.getFirst() instanceof EmbeddingLayer ? new TensorSpec(DType.INT32, Shape.of(b, t))
                : new TensorSpec(DType.FP32, Shape.of(b, t, config.channels()));
        this.output = layers.getLast() instanceof LmHead
                ? new TensorSpec(DType.FP32, Shape.of(b * t, config.paddedVocab(ctx.tpSize()) / ctx.tpSize()))
                : new TensorSpec(DType.FP32, Shape.of(b, t, config.channels()));
    }

    /** The stage's place in the model. */
    public int index() {
        return index;
    }

    /** Its layers, in model order. */
    public List<GptLayer> layers() {
        return layers;
    }

    @Override
    public TensorSpec inputSpec(int microBatch) {
        return input;
    }

    @Override
    public TensorSpec outputSpec(int microBatch) {
        return output;
    }

    @Override
    public Tensor forward(int microBatch, Tensor in) {
        if (!input.matches(in)) {
            throw new IllegalArgumentException("stage " + index + " takes " + input + ", got " + in.dtype().shortName()
                    + in.shape());
        }
        List<Tensor> kept = new ArrayList<>();
        Tensor x = Tensor.allocate(ctx.allocator(), in.dtype(), in.shape(), MemoryCategory.ACTIVATIONS,
                "stage" + index + ".input", ctx.backend().stream());
        x.copyFrom(in, ctx.backend().stream());
        boolean ok = false;
        try {
            for (int i = 0; i < layers.size(); i++) {
                GptLayer layer = layers.get(i);
                kept.add(x);
                hooks.beforeUse(layer, false);
                if (i + 1 < layers.size()) {
                    hooks.prefetch(layers.get(i + 1), false);
                }
                x = layer.forward(microBatch, x);
                hooks.afterUse(layer, false, false);
            }
            inputs.put(microBatch, kept);
            ok = true;
            return x;
        } finally {
            if (!ok) {
                kept.forEach(Tensor::close);
            }
        }
    }

    @Override
    public Tensor backward(int microBatch, Tensor outputGrad) {
        List<Tensor> kept = inputs.remove(microBatch);
        if (kept == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in stage "
                    + index);
        }
        boolean last = ++backwards == microBatches;
        if (last) {
            backwards = 0;
        }
        Tensor dy = outputGrad;
        try {
            for (int i = layers.size() - 1; i >= 0; i--) {
                GptLayer layer = layers.get(i);
                hooks.beforeUse(layer, true);
                if (i > 0) {
                    hooks.prefetch(layers.get(i - 1), true);
                }
                Tensor dx = layer.backward(microBatch, dy);
                hooks.afterUse(layer, true, last);
                if (dy != outputGrad) {
                    dy.close();
                }
                dy = dx;
                kept.get(i).close();
            }
            return dy;
        } finally {
            kept.stream().filter(Tensor::isLive).forEach(Tensor::close);
        }
    }

    @Override
    public void close() {
        inputs.values().forEach(k -> k.stream().filter(Tensor::isLive).forEach(Tensor::close));
        inputs.clear();
        layers.forEach(GptLayer::close);
    }

    @Override
    public String toString() {
        return "stage " + index + " " + layers.stream().map(GptLayer::name).toList();
    }
}
