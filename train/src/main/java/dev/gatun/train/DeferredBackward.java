package dev.gatun.train;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Tensor;

import java.util.HashMap;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * A split backward for a layer whose input has no gradient (a token embedding): the input half only keeps a copy of
 * each micro-batch's output gradient (the caller's tensor lives only during the call), and the weight half runs the
 * layer's whole backward on it. Deferring it keeps the additions to a tied weight's gradient (the head's weight half
 * runs first) in the order of the whole backward, so the sums are equal bit for bit.
 */
public final class DeferredBackward implements AutoCloseable {
    private final LayerContext ctx;
    private final String name;
    private final Map<Integer, Tensor> pending = new HashMap<>();

    /** @param name the layer's name, for the copies and the messages */
    public DeferredBackward(LayerContext ctx, String name) {
        this.ctx = ctx;
        this.name = name;
    }

    /** The input half: keeps a copy of {@code dout}. */
    public void keep(int microBatch, Tensor dout) {
        if (pending.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " already waits for its weight gradients in "
                    + name);
        }
        var stream = ctx.backend().stream();
        Tensor kept = Tensor.allocate(ctx.allocator(), DType.FP32, dout.shape(), MemoryCategory.ACTIVATIONS,
                name + ".dout", stream);
        kept.copyFrom(dout, stream);
        pending.put(microBatch, kept);
    }

    /** The weight half: {@code backward(microBatch, dout)} on the kept copy, which is then freed. */
    public void run(int microBatch, BiConsumer<Integer, Tensor> backward) {
        Tensor dout = pending.remove(microBatch);
        if (dout == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch + " waits in " + name
                    + ": run backwardInput first");
        }
        try (dout) {
            backward.accept(microBatch, dout);
        }
    }

    /** Frees the copies still kept. */
    @Override
    public void close() {
        pending.values().forEach(Tensor::close);
        pending.clear();
    }
}
