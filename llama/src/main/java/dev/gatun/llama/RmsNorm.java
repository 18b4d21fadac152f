package dev.gatun.llama;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.tp.Parameter;
import dev.gatun.train.LayerContext;

import java.util.HashMap;
import java.util.Map;

/**
 * RMSNorm over the channels with a gain initialised to 1, replicated on every tp rank: {@code y = x·σ⁻¹·weight},
 * {@code σ⁻¹ = 1/√(mean(x²) + eps)} ({@link dev.gatun.ops.Backend#rmsNorm}). Keeps each micro-batch's input (by
 * reference) and σ⁻¹ until its backward. With sequence parallelism each tp rank normalises its own token rows, so
 * the gain's gradient is all-reduced over the tp group ({@code C} values per micro-batch) to stay equal on every rank.
 */
final class RmsNorm implements AutoCloseable {
    private final LayerContext ctx;
    private final int channels;
    private final float eps;
    private final Parameter weight;
    private final Map<Integer, Saved> saved = new HashMap<>();

    private record Saved(Tensor input, Tensor rstd) {
    }

    RmsNorm(int channels, float eps, LayerContext ctx, String name) {
        this.ctx = ctx;
        this.channels = channels;
        this.eps = eps;
        this.weight = Parameter.constant(ctx.allocator(), ctx.backend().stream(), name + ".weight", Shape.of(channels),
                1f);
    }

    Parameter weight() {
        return weight;
    }

    Tensor forward(int microBatch, Tensor x) {
        if (saved.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " is already in flight in " + weight.name());
        }
        long rows = x.numel() / channels;
        var stream = ctx.backend().stream();
        Tensor out = Tensor.allocate(ctx.allocator(), DType.FP32, x.shape(), MemoryCategory.ACTIVATIONS,
                weight.name() + ".out", stream);
        Tensor rstd = Tensor.allocate(ctx.allocator(), DType.FP32, Shape.of(rows), MemoryCategory.ACTIVATIONS,
                weight.name() + ".rstd", stream);
        ctx.backend().rmsNorm(x.reshape(rows, channels), weight.value(), eps, out.reshape(rows, channels), rstd);
        saved.put(microBatch, new Saved(x, rstd));
        return out;
    }

    Tensor backward(int microBatch, Tensor dy) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in "
                    + weight.name());
        }
        try (Tensor rstd = s.rstd()) {
            long rows = s.input().numel() / channels;
            Tensor dx = Tensor.allocate(ctx.allocator(), DType.FP32, s.input().shape(), MemoryCategory.ACTIVATIONS,
                    weight.name() + ".din", ctx.backend().stream());
            if (!ctx.sequenceParallel()) {
                ctx.backend().rmsNormBackward(dy.reshape(rows, channels), s.input().reshape(rows, channels),
                        weight.value(), rstd, dx.reshape(rows, channels), weight.grad());
                return dx;
            }
            try (Tensor partial = Tensor.zeros(ctx.allocator(), DType.FP32, Shape.of(channels),
                    MemoryCategory.WORKSPACE, weight.name() + ".partial", ctx.backend().stream())) {
                ctx.backend().rmsNormBackward(dy.reshape(rows, channels), s.input().reshape(rows, channels),
                        weight.value(), rstd, dx.reshape(rows, channels), partial);
                ctx.tp().copyToRegion().backward(partial, partial); // the sum over the tp group's token rows
                ctx.backend().add(weight.grad(), partial, weight.grad());
            }
            return dx;
        }
    }

    /** Frees what the forward of {@code microBatch} saved (its σ⁻¹; the input is the caller's). */
    void discard(int microBatch) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in "
                    + weight.name());
        }
        s.rstd().close();
    }

    @Override
    public void close() {
        saved.values().forEach(s -> s.rstd().close());
        saved.clear();
        weight.close();
    }
}
