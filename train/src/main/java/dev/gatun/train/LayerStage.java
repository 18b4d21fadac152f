package dev.gatun.train;

import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Tensor;
import dev.gatun.pipeline.PipelineStage;
import dev.gatun.pipeline.TensorSpec;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Consecutive layers of a {@link Model} as one pipeline stage (model chunk). The stage copies its input (the
 * executor's tensor lives only during the call) and keeps each layer's input of a micro-batch until that
 * micro-batch's backward, since layers keep their inputs by reference. Its input and output are what the model says
 * ({@link Model#stageInput}, {@link Model#stageOutput}).
 *
 * <p>Split backward (zero-bubble schedules): {@link #backwardInput} runs each layer's {@link Layer#backwardInput} in
 * reverse order and returns the stage's input gradient; {@link #backwardWeight} runs their
 * {@link Layer#backwardWeight} in the same order, and the layers' inputs are kept until then. The ZeRO hooks run
 * around both halves, and a layer's gradients are final after the step's last weight half.
 */
public final class LayerStage implements PipelineStage, AutoCloseable {
    private final int index;
    private final List<Layer> layers;
    private final LayerContext ctx;
    private final LayerHooks hooks;
    private final int microBatches;
    private final TensorSpec input;
    private final TensorSpec output;
    private final Map<Integer, List<Tensor>> inputs = new HashMap<>();
    /** Between the halves of a split backward: each micro-batch's layer inputs, kept until its weight half. */
    private final Map<Integer, List<Tensor>> pending = new HashMap<>();
    /** Backwards (or weight halves) run this step: the one that makes it {@code microBatches} is the step's last. */
    private int backwards;

    /**
     * @param index        the stage's place in the model
     * @param layers       its layers in model order
     * @param input        what it takes per micro-batch
     * @param output       what it gives per micro-batch
     * @param microBatches micro-batches per step (the backward of the last one ends the layers' gradients)
     */
    LayerStage(int index, List<Layer> layers, TensorSpec input, TensorSpec output, LayerContext ctx,
               LayerHooks hooks, int microBatches) {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("stage " + index + " has no layers");
        }
        this.index = index;
        this.layers = List.copyOf(layers);
        this.ctx = Objects.requireNonNull(ctx, "ctx must not be null");
        this.hooks = Objects.requireNonNull(hooks, "hooks must not be null");
        this.microBatches = microBatches;
        this.input = Objects.requireNonNull(input, "input must not be null");
        this.output = Objects.requireNonNull(output, "output must not be null");
    }

    /** The stage's place in the model. */
    public int index() {
        return index;
    }

    /** Its layers, in model order. */
    public List<Layer> layers() {
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
                Layer layer = layers.get(i);
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
        List<Tensor> kept = takeInputs(microBatch);
        boolean last = countBackward();
        try {
            return inputGradient(microBatch, outputGrad, kept, Layer::backward, last, true);
        } finally {
            kept.stream().filter(Tensor::isLive).forEach(Tensor::close);
        }
    }

    @Override
    public Tensor backwardInput(int microBatch, Tensor outputGrad) {
        List<Tensor> kept = takeInputs(microBatch);
        boolean ok = false;
        try {
            Tensor dx = inputGradient(microBatch, outputGrad, kept, Layer::backwardInput, false, false);
            pending.put(microBatch, kept);
            ok = true;
            return dx;
        } finally {
            if (!ok) {
                kept.stream().filter(Tensor::isLive).forEach(Tensor::close);
            }
        }
    }

    @Override
    public void backwardWeight(int microBatch) {
        List<Tensor> kept = pending.remove(microBatch);
        if (kept == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch + " waits in stage "
                    + index + " for its weight gradients: run backwardInput first");
        }
        boolean last = countBackward();
        try {
            for (int i = layers.size() - 1; i >= 0; i--) {
                Layer layer = layers.get(i);
                beforeBackward(i);
                layer.backwardWeight(microBatch);
                hooks.afterUse(layer, true, last);
                kept.get(i).close();
            }
        } finally {
            kept.stream().filter(Tensor::isLive).forEach(Tensor::close);
        }
    }

    /** A layer's whole backward or its input half. */
    private interface LayerBackward {
        Tensor run(Layer layer, int microBatch, Tensor outputGrad);
    }

    private List<Tensor> takeInputs(int microBatch) {
        List<Tensor> kept = inputs.remove(microBatch);
        if (kept == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in stage "
                    + index);
        }
        return kept;
    }

    /** Counts a backward (or weight half) of this step: true for the step's last, after which the count restarts. */
    private boolean countBackward() {
        boolean last = ++backwards == microBatches;
        if (last) {
            backwards = 0;
        }
        return last;
    }

    /**
     * Runs {@code pass} on each layer in reverse order, the hooks around it, each layer's output gradient closed once
     * the layer below has read it, and its input too when {@code freeInputs}; returns the stage's input gradient.
     */
    private Tensor inputGradient(int microBatch, Tensor outputGrad, List<Tensor> kept, LayerBackward pass,
                                 boolean last, boolean freeInputs) {
        Tensor dy = outputGrad;
        for (int i = layers.size() - 1; i >= 0; i--) {
            Layer layer = layers.get(i);
            beforeBackward(i);
            Tensor dx = pass.run(layer, microBatch, dy);
            hooks.afterUse(layer, true, last);
            if (dy != outputGrad) {
                dy.close();
            }
            dy = dx;
            if (freeInputs) {
                kept.get(i).close();
            }
        }
        return dy;
    }

    private void beforeBackward(int i) {
        hooks.beforeUse(layers.get(i), true);
        if (i > 0) {
            hooks.prefetch(layers.get(i - 1), true);
        }
    }

    @Override
    public void close() {
        inputs.values().forEach(k -> k.stream().filter(Tensor::isLive).forEach(Tensor::close));
        inputs.clear();
        pending.values().forEach(k -> k.stream().filter(Tensor::isLive).forEach(Tensor::close));
        pending.clear();
        layers.forEach(Layer::close);
    }

    @Override
    public String toString() {
        return "stage " + index + " " + layers.stream().map(Layer::name).toList();
    }
}
