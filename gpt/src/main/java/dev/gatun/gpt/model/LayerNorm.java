package dev.gatun.gpt.model;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.tp.Parameter;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import dev.gatun.train.LayerContext;

/**
 * LayerNorm over the channels with a gain (initialised to 1) and a bias (0), replicated on every tp rank:
 * {@code y = (x − μ)·σ⁻¹·weight + bias} ({@link dev.gatun.ops.Backend#layerNorm}). Keeps each micro-batch's input (by
 * reference), mean and σ⁻¹ until its backward. With sequence parallelism each tp rank normalises its own token rows,
 * so the gradients of the (replicated) gain and bias are each rank's partial sums: the backward adds their all-reduce
 * over the tp group, {@code 2C} values per micro-batch, and they stay equal on every rank.
 */
final class LayerNorm implements AutoCloseable {
    private static final float EPS = 1e-5f;
    private final LayerContext ctx;
    private final int channels;
    private final Parameter weight;
    private final Parameter bias;
    private final Map<Integer, Saved> saved = new HashMap<>();

    private record Saved(Tensor input, Tensor mean, Tensor rstd) {
    }

    LayerNorm(int channels, LayerContext ctx, String name) {
        this.ctx = ctx;
        this.channels = channels;
        var stream = ctx.backend().stream();
        this.weight = Parameter.constant(ctx.allocator(), stream, name + ".weight", Shape.of(channels), 1f);
        this.bias = Parameter.constant(ctx.allocator(), stream, name + ".bias", Shape.of(channels), 0f);
    }

    List<Parameter> parameters() {
        return List.of(weight, bias);
    }

    Tensor forward(int microBatch, Tensor x) {
        if (saved.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " is already in flight in " + weight.name());
        }
        long rows = x.numel() / channels;
        var stream = ctx.backend().stream();
        Tensor out = Tensor.allocate(ctx.allocator(), DType.FP32, x.shape(), MemoryCategory.ACTIVATIONS,
                weight.name() + ".out", stream);
        Tensor mean = Tensor.allocate(ctx.allocator(), DType.FP32, Shape.of(rows), MemoryCategory.ACTIVATIONS,
                weight.name() + ".mean", stream);
        Tensor rstd = Tensor.allocate(ctx.allocator(), DType.FP32, Shape.of(rows), MemoryCategory.ACTIVATIONS,
                weight.name() + ".rstd", stream);
        ctx.backend().layerNorm(x.reshape(rows, channels), weight.value(), bias.value(), EPS,
                out.reshape(rows, channels), mean, rstd);
        saved.put(microBatch, new Saved(x, mean, rstd));
        return out;
    }

    Tensor backward(int microBatch, Tensor dy) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in "
                    + weight.name());
        }
        try (Tensor mean = s.mean(); Tensor rstd = s.rstd()) {
            long rows = s.input().numel() / channels;
            Tensor dx = Tensor.allocate(ctx.allocator(), DType.FP32, s.input().shape(), MemoryCategory.ACTIVATIONS,
                    weight.name() + ".din", ctx.backend().stream());
            if (!ctx.sequenceParallel()) {
                ctx.backend().layerNormBackward(dy.reshape(rows, channels), s.input().reshape(rows, channels),
                        weight.value(), mean, rstd, dx.reshape(rows, channels), weight.grad(), bias.grad());
                return dx;
            }
            var stream = ctx.backend().stream();
            try (Tensor partial = Tensor.zeros(ctx.allocator(), DType.FP32, Shape.of(2, channels),
                    MemoryCategory.WORKSPACE, weight.name() + ".partial", stream)) {
                Tensor dw = partial.flat(0, channels);
                Tensor db = partial.flat(channels, channels);
                ctx.backend().layerNormBackward(dy.reshape(rows, channels), s.input().reshape(rows, channels),
                        weight.value(), mean, rstd, dx.reshape(rows, channels), dw, db);
                ctx.tp().copyToRegion().backward(partial, partial); // the sum over the tp group's token rows
                ctx.backend().add(weight.grad(), dw, weight.grad());
                ctx.backend().add(bias.grad(), db, bias.grad());
            }
            return dx;
        }
    }

    /** Frees what the forward of {@code microBatch} saved (its mean and σ⁻¹; the input is the caller's). */
    void discard(int microBatch) {
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in "
                    + weight.name());
        }
        s.mean().close();
        s.rstd().close();
    }

    @Override
    public void close() {
        saved.values().forEach(s -> {
            s.mean().close();
            s.rstd().close();
        });
        saved.clear();
        bias.close();
        weight.close();
    }
}
