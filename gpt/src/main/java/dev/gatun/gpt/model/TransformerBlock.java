package dev.gatun.gpt.model;

import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Tensor;
import dev.gatun.tp.ParallelAttention;
import dev.gatun.tp.ParallelMlp;
import dev.gatun.tp.Parameter;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import dev.gatun.train.LayerContext;
import dev.gatun.train.Layer;
import dev.gatun.train.Recompute;

/**
 * A pre-LayerNorm GPT-2 block, tensor-parallel as Megatron's: {@code r = x + attn(ln_1(x))},
 * {@code y = r + mlp(ln_2(r))}, with {@link ParallelAttention} split by heads and {@link ParallelMlp} by the hidden
 * columns; two all-reduces of {@code [B·T, C]} forward and two backward. Input and output {@code [B, T, C]}.
 *
 * <p>Activation recomputation ({@link LayerContext#recompute()} for the block's name): {@link Recompute#SELECTIVE}
 * frees the attention probabilities after the forward and recomputes them in the backward;
 * {@link Recompute#FULL} keeps nothing but a reference to the block's input (which the stage keeps anyway) and runs
 * the whole forward again at the start of the backward, its all-reduces included. The kernels are deterministic, so
 * the gradients equal those of {@link Recompute#NONE} bit for bit.
 */
public final class TransformerBlock implements Layer {
    private final String name;
    private final LayerContext ctx;
    private final LayerNorm ln1;
    private final ParallelAttention attn;
    private final LayerNorm ln2;
    private final ParallelMlp mlp;
    private final Recompute recompute;
    private final Map<Integer, Saved> saved = new HashMap<>();
    private final Map<Integer, Pending> pending = new HashMap<>();
    /** Under full recomputation: each micro-batch's input (the caller's tensor), from the forward to the backward. */
    private final Map<Integer, Tensor> inputs = new HashMap<>();

    /** Between the halves of a split backward: the gradients and inputs the linear layers' weight halves read. */
    private record Pending(Tensor dy, Tensor dr, Tensor ln1Out, Tensor ln2Out) {
        void close() {
            dy.close();
            dr.close();
            ln1Out.close();
            ln2Out.close();
        }
    }

    /** The block's own intermediate tensors, which its sub-layers keep by reference until the backward. */
    private record Saved(Tensor ln1Out, Tensor residual, Tensor ln2Out) {
        void close() {
            ln1Out.close();
            residual.close();
            ln2Out.close();
        }
    }

    /** Block {@code index}, whose parameters are named {@code "h<index>.…"} as in GPT-2. */
    public TransformerBlock(int index, GptConfig config, LayerContext ctx) {
        this.name = "h" + index;
        this.ctx = ctx;
        this.recompute = ctx.recompute().modeOf(name);
        int c = config.channels();
        this.ln1 = new LayerNorm(c, ctx, name + ".ln_1");
        this.attn = new ParallelAttention(c, config.heads(), ctx.tp(), ctx.backend(), ctx.allocator(),
                name + ".attn", ctx.seed(), recompute == Recompute.SELECTIVE,
                ctx.sequenceParallel() ? config.seqLen() : 0);
        this.ln2 = new LayerNorm(c, ctx, name + ".ln_2");
        this.mlp = new ParallelMlp(c, ctx.tp(), ctx.backend(), ctx.allocator(), name + ".mlp", ctx.seed(),
                ctx.sequenceParallel());
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public List<Parameter> parameters() {
        List<Parameter> p = new ArrayList<>(ln1.parameters());
        p.addAll(List.of(attn.qkv().weight(), attn.qkv().bias(), attn.proj().weight(), attn.proj().bias()));
        p.addAll(ln2.parameters());
        p.addAll(List.of(mlp.fc().weight(), mlp.fc().bias(), mlp.proj().weight(), mlp.proj().bias()));
        return p;
    }

    @Override
    public Set<String> tpReplicated() {
        return Set.of(name + ".ln_1.weight", name + ".ln_1.bias", name + ".ln_2.weight", name + ".ln_2.bias",
                attn.proj().bias().name(), mlp.proj().bias().name());
    }

    @Override
    public Set<String> computeOnly() {
        return Set.of(attn.qkv().weight().name(), attn.proj().weight().name(), mlp.fc().weight().name(),
                mlp.proj().weight().name());
    }

    /** How this block keeps its activations. */
    public Recompute recompute() {
        return recompute;
    }

    @Override
    public Tensor forward(int microBatch, Tensor x) {
        if (recompute != Recompute.FULL) {
            return run(microBatch, x);
        }
        if (inputs.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " is already in flight in " + name);
        }
        Tensor y = run(microBatch, x);
        saved.remove(microBatch).close();
        mlp.discard(microBatch);
        ln2.discard(microBatch);
        attn.discard(microBatch);
        ln1.discard(microBatch);
        inputs.put(microBatch, x);
        return y;
    }

    /** What the forward of {@code microBatch} kept; under full recomputation its forward runs again first. */
    private Saved takeSaved(int microBatch) {
        if (recompute == Recompute.FULL) {
            Tensor x = inputs.remove(microBatch);
            if (x == null) {
                throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in " + name);
            }
            run(microBatch, x).close();
        }
        Saved s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in " + name);
        }
        return s;
    }

    /** The forward, keeping what the backward reads. */
    private Tensor run(int microBatch, Tensor x) {
        var backend = ctx.backend();
        Tensor a = ln1.forward(microBatch, x);
        Tensor r = attn.forward(microBatch, a);
        backend.add(x, r, r);
        Tensor b = ln2.forward(microBatch, r);
        Tensor y = mlp.forward(microBatch, b);
        backend.add(r, y, y);
        saved.put(microBatch, new Saved(a, r, b));
        return y;
    }

    @Override
    public Tensor backward(int microBatch, Tensor dy) {
        Saved s = takeSaved(microBatch);
        var backend = ctx.backend();
        try {
            Tensor dr;
            try (Tensor db = mlp.backward(microBatch, dy)) {
                dr = ln2.backward(microBatch, db);
            }
            backend.add(dy, dr, dr);
            try (dr; Tensor da = attn.backward(microBatch, dr)) {
                Tensor dx = ln1.backward(microBatch, da);
                backend.add(dr, dx, dx);
                return dx;
            }
        } finally {
            s.close();
        }
    }

    /**
     * The input half of the backward: {@code dx} through the MLP, ln_2, attention and ln_1, each linear layer
     * computing only its input gradient; kept for {@link #backwardWeight} are a copy of {@code dy} (what the MLP's
     * {@code proj} reads), the residual stream's gradient (attention's {@code proj}), and ln_1's and ln_2's outputs (the
     * inputs of {@code qkv} and {@code fc}). The LayerNorms' own gradients are added here.
     */
    @Override
    public Tensor backwardInput(int microBatch, Tensor dy) {
        if (pending.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " already waits for its weight gradients in "
                    + name);
        }
        Saved s = takeSaved(microBatch);
        var backend = ctx.backend();
        Tensor dyKept = Tensor.allocate(ctx.allocator(), dy.dtype(), dy.shape(), MemoryCategory.ACTIVATIONS,
                name + ".dout", backend.stream());
        Tensor dr = null;
        boolean ok = false;
        try {
            dyKept.copyFrom(dy, backend.stream());
            try (Tensor db = mlp.backwardInput(microBatch, dyKept)) {
                dr = ln2.backward(microBatch, db);
            }
            backend.add(dy, dr, dr);
            Tensor dx;
            try (Tensor da = attn.backwardInput(microBatch, dr)) {
                dx = ln1.backward(microBatch, da);
            }
            backend.add(dr, dx, dx);
            pending.put(microBatch, new Pending(dyKept, dr, s.ln1Out(), s.ln2Out()));
            s.residual().close();
            ok = true;
            return dx;
        } finally {
            if (!ok) {
                dyKept.close();
                if (dr != null) {
                    dr.close();
                }
                s.close();
            }
        }
    }

    /** The weight half: the MLP's and attention's linear layers' gradients, from what {@link #backwardInput} kept. */
    @Override
    public void backwardWeight(int microBatch) {
        Pending p = pending.remove(microBatch);
        if (p == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch + " waits in " + name
                    + ": run backwardInput first");
        }
        try {
            mlp.backwardWeight(microBatch);
            attn.backwardWeight(microBatch);
        } finally {
            p.close();
        }
    }

    @Override
    public void close() {
        saved.values().forEach(Saved::close);
        saved.clear();
        pending.values().forEach(Pending::close);
        pending.clear();
        inputs.clear();
        mlp.close();
        ln2.close();
        attn.close();
        ln1.close();
    }
}
