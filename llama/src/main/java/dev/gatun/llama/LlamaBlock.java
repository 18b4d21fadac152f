package dev.gatun.llama;

import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Tensor;
import dev.gatun.tp.GroupedQueryAttention;
import dev.gatun.tp.Parameter;
import dev.gatun.tp.SwiGluMlp;
import dev.gatun.train.Layer;
import dev.gatun.train.LayerContext;
import dev.gatun.train.Recompute;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One Llama decoder layer, pre-norm: {@code r = x + attn(rms₁(x))}, {@code y = r + mlp(rms₂(r))} with grouped-query
 * attention under the rotary embedding ({@link GroupedQueryAttention}) and the SwiGLU MLP ({@link SwiGluMlp}), both
 * tensor-parallel (one all-reduce each way per sub-layer, or with sequence parallelism an all-gather and a
 * reduce-scatter, the norms and the residual stream then split over tp along the tokens); parameters named {@code "layers.<i>.…"} as Hugging Face
 * names them without the {@code model.} prefix ({@code input_layernorm}, {@code self_attn.qkv_proj} — q, k and v
 * stacked —, {@code self_attn.o_proj}, {@code post_attention_layernorm}, {@code mlp.gate_up_proj} — gate and up
 * stacked —, {@code mlp.down_proj}). Activation recomputation as {@link dev.gatun.train.RecomputePlan} says:
 * selective frees the attention probabilities and recomputes them from the saved rotated q and k; full keeps only
 * the layer's input and runs its forward again in the backward.
 */
public final class LlamaBlock implements Layer {
    private final String name;
    private final LayerContext ctx;
    private final RmsNorm norm1;
    private final GroupedQueryAttention attn;
    private final RmsNorm norm2;
    private final SwiGluMlp mlp;
    private final Recompute recompute;
    private final Map<Integer, Tensor[]> saved = new HashMap<>();
    /** Between the halves of a split backward: a copy of dy, the residual stream's gradient, the norms' outputs. */
    private final Map<Integer, Tensor[]> pending = new HashMap<>();
    /** Under full recomputation: each micro-batch's input (the caller's tensor), from the forward to the backward. */
    private final Map<Integer, Tensor> inputs = new HashMap<>();

    public LlamaBlock(int index, LlamaConfig config, LayerContext ctx) {
        this.name = "layers." + index;
        this.ctx = ctx;
        this.recompute = ctx.recompute().modeOf(name);
        int c = config.channels();
        this.norm1 = new RmsNorm(c, config.normEps(), ctx, name + ".input_layernorm");
        this.attn = new GroupedQueryAttention(c, config.heads(), config.kvHeads(), config.rotary(), config.seqLen(),
                ctx.tp(), ctx.backend(), ctx.allocator(), name + ".self_attn", ctx.seed(),
                ctx.sequenceParallel() ? config.seqLen() : 0, recompute == Recompute.SELECTIVE);
        this.norm2 = new RmsNorm(c, config.normEps(), ctx, name + ".post_attention_layernorm");
        this.mlp = new SwiGluMlp(c, config.hidden(), ctx.tp(), ctx.backend(), ctx.allocator(), name + ".mlp",
                ctx.seed(), ctx.sequenceParallel());
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(norm1.weight(), attn.qkv().weight(), attn.proj().weight(), norm2.weight(),
                mlp.gateUp().weight(), mlp.down().weight());
    }

    @Override
    public Set<String> tpReplicated() {
        return Set.of(norm1.weight().name(), norm2.weight().name());
    }

    @Override
    public Set<String> computeOnly() {
        return Set.of(attn.qkv().weight().name(), attn.proj().weight().name(), mlp.gateUp().weight().name(),
                mlp.down().weight().name());
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
        for (Tensor t : saved.remove(microBatch)) {
            t.close();
        }
        mlp.discard(microBatch);
        norm2.discard(microBatch);
        attn.discard(microBatch);
        norm1.discard(microBatch);
        inputs.put(microBatch, x);
        return y;
    }

    /** The forward, keeping what the backward reads. */
    private Tensor run(int microBatch, Tensor x) {
        var backend = ctx.backend();
        Tensor a = norm1.forward(microBatch, x);
        Tensor r = attn.forward(microBatch, a);
        backend.add(x, r, r);
        Tensor b = norm2.forward(microBatch, r);
        Tensor y = mlp.forward(microBatch, b);
        backend.add(r, y, y);
        saved.put(microBatch, new Tensor[] {a, r, b});
        return y;
    }

    @Override
    public Tensor backward(int microBatch, Tensor dy) {
        Tensor[] s = take(microBatch);
        var backend = ctx.backend();
        try {
            Tensor dr;
            try (Tensor db = mlp.backward(microBatch, dy)) {
                dr = norm2.backward(microBatch, db);
            }
            backend.add(dy, dr, dr);
            try (dr; Tensor da = attn.backward(microBatch, dr)) {
                Tensor dx = norm1.backward(microBatch, da);
                backend.add(dr, dx, dx);
                return dx;
            }
        } finally {
            for (Tensor t : s) {
                t.close();
            }
        }
    }

    /**
     * The input half of the backward (zero-bubble schedules): {@code dx} through the MLP, the post-attention norm,
     * the attention and the input norm, each linear layer computing only its input gradient; kept for
     * {@link #backwardWeight} are a copy of {@code dy} (what {@code down_proj} reads), the residual stream's gradient
     * ({@code o_proj}'s) and the two norms' outputs (the inputs of {@code qkv_proj} and {@code gate_up_proj}). The
     * norms' gradients are added here.
     */
    @Override
    public Tensor backwardInput(int microBatch, Tensor dy) {
        if (pending.containsKey(microBatch)) {
            throw new IllegalStateException("micro-batch " + microBatch + " already waits for its weight gradients in "
                    + name);
        }
        Tensor[] s = take(microBatch);
        var backend = ctx.backend();
        Tensor dyKept = Tensor.allocate(ctx.allocator(), dy.dtype(), dy.shape(), MemoryCategory.ACTIVATIONS,
                name + ".dout", backend.stream());
        Tensor dr = null;
        boolean ok = false;
        try {
            dyKept.copyFrom(dy, backend.stream());
            try (Tensor db = mlp.backwardInput(microBatch, dyKept)) {
                dr = norm2.backward(microBatch, db);
            }
            backend.add(dy, dr, dr);
            Tensor dx;
            try (Tensor da = attn.backwardInput(microBatch, dr)) {
                dx = norm1.backward(microBatch, da);
            }
            backend.add(dr, dx, dx);
            pending.put(microBatch, new Tensor[] {dyKept, dr, s[0], s[2]});
            s[1].close();
            ok = true;
            return dx;
        } finally {
            if (!ok) {
                dyKept.close();
                if (dr != null) {
                    dr.close();
                }
                for (Tensor t : s) {
                    t.close();
                }
            }
        }
    }

    /** The weight half: the MLP's and the attention's linear layers' gradients, from what the input half kept. */
    @Override
    public void backwardWeight(int microBatch) {
        Tensor[] p = pending.remove(microBatch);
        if (p == null) {
            throw new IllegalStateException("no input gradient of micro-batch " + microBatch + " waits in " + name
                    + ": run backwardInput first");
        }
        try {
            mlp.backwardWeight(microBatch);
            attn.backwardWeight(microBatch);
        } finally {
            for (Tensor t : p) {
                t.close();
            }
        }
    }

    /** What the forward of {@code microBatch} kept {a, r, b}; under full recomputation its forward runs again first. */
    private Tensor[] take(int microBatch) {
        if (recompute == Recompute.FULL) {
            Tensor x = inputs.remove(microBatch);
            if (x == null) {
                throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in " + name);
            }
            run(microBatch, x).close();
        }
        Tensor[] s = saved.remove(microBatch);
        if (s == null) {
            throw new IllegalStateException("no forward of micro-batch " + microBatch + " in flight in " + name);
        }
        return s;
    }

    @Override
    public void close() {
        saved.values().forEach(s -> {
            for (Tensor t : s) {
                t.close();
            }
        });
        saved.clear();
        pending.values().forEach(p -> {
            for (Tensor t : p) {
                t.close();
            }
        });
        pending.clear();
        inputs.clear();
        mlp.close();
        norm2.close();
        attn.close();
        norm1.close();
    }
}
