package dev.gatun.ops;

import dev.gatun.memory.Device;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.Tensor;

/**
 * The math a GPT block needs, on one device: GEMM and the layer kernels, each with an explicit forward and backward
 * (no autograd). One backend serves one rank: its {@link #device()} and the {@link #stream()} every operation is
 * enqueued on. Operations are asynchronous on CUDA (results are valid once the stream reaches them) and complete on
 * return on the CPU.
 *
 * <p>Conventions, for every operation:
 * <ul>
 *   <li>Callers allocate every output; tensors are contiguous row-major and must be on {@link #device()}. Shapes,
 *       dtypes and devices are checked in Java before anything runs, with messages naming the argument.</li>
 *   <li>Activation outputs and activation gradients are <b>overwritten</b>; parameter gradients ({@code dweight},
 *       {@code dbias}, {@code dwte}, ...) are <b>accumulated</b> ({@code +=}), so that micro-batches add up.</li>
 *   <li>Element-wise and layer kernels take fp32 tensors; {@link #gemm} also takes bf16/fp16 inputs with fp32
 *       accumulation; {@link #cast} converts. Token ids and targets are int32.</li>
 *   <li>Shapes below: {@code B} batch, {@code T} sequence, {@code C} channels, {@code NH} heads, {@code V} vocabulary,
 *       {@code N} rows (= B·T).</li>
 * </ul>
 */
public interface Backend extends AutoCloseable {
    /** The device whose tensors this backend works on. */
    Device device();

    /** The stream operations are enqueued on. */
    DeviceStream stream();

    /**
     * {@code C = alpha·op(A)·op(B) + beta·C}, fp32 accumulation. 2-D: {@code op(A)} is {@code [m, k]},
     * {@code op(B)} {@code [k, n]}, {@code C} {@code [m, n]} (so {@code A} is stored {@code [k, m]} when
     * transposed). 3-D tensors {@code [batch, ·, ·]} are a strided batch: one GEMM per leading index. {@code A} and
     * {@code B} share a dtype (fp32, bf16 or fp16); {@code C} is fp32 or that dtype. {@code beta = 0} overwrites
     * {@code C} whatever it held (NaN included).
     */
    void gemm(Tensor a, Transpose opA, Tensor b, Transpose opB, Tensor c, float alpha, float beta);

    /** {@code out[n, c] += bias[c]} for every row {@code n}: {@code out [N, C]}, {@code bias [C]}. */
    void addBias(Tensor out, Tensor bias);

    /** Bias gradient: {@code dbias[c] += Σ_n dout[n, c]}; {@code dout [N, C]}, {@code dbias [C]}. */
    void biasBackward(Tensor dout, Tensor dbias);

    /** Element-wise {@code out = a + b} (residual add); {@code out} may be {@code a} or {@code b}. */
    void add(Tensor a, Tensor b, Tensor out);

    /** Element-wise {@code x *= s}. */
    void scale(Tensor x, float s);

    /**
     * GELU, tanh form (GPT-2): {@code out = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))}, element-wise; {@code out} may
     * be {@code in}.
     */
    void gelu(Tensor in, Tensor out);

    /** {@code din = dout · GELU'(in)}, element-wise, with GELU' the derivative of the tanh form. */
    void geluBackward(Tensor in, Tensor dout, Tensor din);

    /**
     * LayerNorm over the last dimension: for each row {@code n} of {@code in [N, C]},
     * {@code μ = mean(x)}, {@code σ⁻¹ = 1/√(var(x) + eps)} (biased variance), {@code out = (x − μ)·σ⁻¹·weight + bias};
     * saves {@code mean [N]} and {@code rstd [N]} (= σ⁻¹) for the backward.
     */
    void layerNorm(Tensor in, Tensor weight, Tensor bias, float eps, Tensor out, Tensor mean, Tensor rstd);

    /**
     * LayerNorm backward, from the saved {@code mean} and {@code rstd}: with {@code x̂ = (x − μ)·σ⁻¹} and
     * {@code g = dout·weight}, {@code din = σ⁻¹·(g − mean(g) − x̂·mean(g·x̂))} (overwritten),
     * {@code dweight += Σ_n dout·x̂}, {@code dbias += Σ_n dout}.
     */
    void layerNormBackward(Tensor dout, Tensor in, Tensor weight, Tensor mean, Tensor rstd,
                           Tensor din, Tensor dweight, Tensor dbias);

    /**
     * RMSNorm over the last dimension (Zhang and Sennrich 2019; Llama's norm, no bias): for each row {@code n} of
     * {@code in [N, C]}, {@code σ⁻¹ = 1/√(mean(x²) + eps)}, {@code out = x·σ⁻¹·weight}; saves {@code rstd [N]}
     * (= σ⁻¹) for the backward.
     */
    void rmsNorm(Tensor in, Tensor weight, float eps, Tensor out, Tensor rstd);

    /**
     * RMSNorm backward, from the saved {@code rstd}: with {@code x̂ = x·σ⁻¹} and {@code g = dout·weight},
     * {@code din = σ⁻¹·(g − x̂·mean(g·x̂))} (overwritten), {@code dweight += Σ_n dout·x̂}.
     */
    void rmsNormBackward(Tensor dout, Tensor in, Tensor weight, Tensor rstd, Tensor din, Tensor dweight);

    /**
     * Rotary position embedding (Su et al. 2021) in Llama's form, on the first {@code heads} heads of each row of
     * {@code x [B, T, W]} ({@code W ≥ heads·hs}, head {@code h} the columns {@code [h·hs, (h+1)·hs)}): the pair
     * {@code (x₂ᵢ, x₂ᵢ₊₁)} of a head at position {@code t} becomes {@code (x₂ᵢ·cos θ − x₂ᵢ₊₁·sin θ,
     * x₂ᵢ·sin θ + x₂ᵢ₊₁·cos θ)} with {@code θ = t·ωᵢ}, read from the tables {@code cos, sin [T', hs/2]}
     * ({@code T ≤ T'}; {@link RotaryFrequencies}); with {@code inverse} the rotation is by {@code −θ}, which is the
     * backward, the rotation being orthogonal: {@code dx = R(−θ)·dy}. The other columns are copied. {@code out} may
     * be {@code x}.
     */
    void rotary(Tensor x, int heads, Tensor cos, Tensor sin, boolean inverse, Tensor out);

    /**
     * SwiGLU (Shazeer 2020), Llama's MLP activation, on a fused {@code gateUp [N, 2F]} whose rows hold the gate
     * {@code g = x·W1ᵀ} in their first {@code F} columns and {@code u = x·W3ᵀ} in the last {@code F}:
     * {@code out [N, F] = silu(g)·u} with {@code silu(g) = g·σ(g)}.
     */
    void swiglu(Tensor gateUp, Tensor out);

    /**
     * SwiGLU backward into {@code dgateUp [N, 2F]} (overwritten): {@code dg = dout·u·σ(g)·(1 + g·(1 − σ(g)))},
     * {@code du = dout·silu(g)}.
     */
    void swigluBackward(Tensor gateUp, Tensor dout, Tensor dgateUp);

    /** Row softmax over the last dimension: {@code out[n, j] = exp(x[n, j] − max_j x[n, ·]) / Σ_k exp(…)}. */
    void softmax(Tensor in, Tensor out);

    /**
     * Causal multi-head self-attention from a fused projection {@code qkv [B, T, 3C]} (q, k, v each {@code [B, T, C]}
     * along the last axis, heads of size {@code hs = C/NH} contiguous within each): per head
     * {@code att = softmax(mask(q·kᵀ/√hs))} with positions {@code j > i} masked, {@code out = att·v}, heads
     * concatenated into {@code out [B, T, C]}. Saves the probabilities {@code att [B, NH, T, T]} for the backward.
     * Built from batched GEMMs and a masked softmax.
     */
    default void attention(Tensor qkv, int numHeads, Tensor out, Tensor att) {
        attention(qkv, numHeads, numHeads, out, att);
    }

    /** Attention backward: {@code dqkv [B, T, 3C]} (overwritten) from {@code dout [B, T, C]} and the saved {@code att}. */
    default void attentionBackward(Tensor dout, Tensor qkv, Tensor att, int numHeads, Tensor dqkv) {
        attentionBackward(dout, qkv, att, numHeads, numHeads, dqkv);
    }

    /**
     * Grouped-query causal attention (Ainslie et al. 2023): {@code qkv [B, T, (NH + 2·NKV)·hs]} holds per row the
     * {@code NH} query heads, then {@code NKV} key heads, then {@code NKV} value heads ({@code NKV} dividing
     * {@code NH}); query head {@code h} attends with key and value head {@code h / (NH/NKV)}, otherwise as
     * {@link #attention(Tensor, int, Tensor, Tensor)}: {@code out [B, T, NH·hs]}, {@code att [B, NH, T, T]}.
     * {@code NKV = NH} is multi-head attention.
     */
    void attention(Tensor qkv, int numHeads, int numKvHeads, Tensor out, Tensor att);

    /**
     * Grouped-query attention backward: {@code dqkv} shaped like {@code qkv} (overwritten); a key or value head's
     * gradient is the sum over the query heads of its group.
     */
    void attentionBackward(Tensor dout, Tensor qkv, Tensor att, int numHeads, int numKvHeads, Tensor dqkv);

    /**
     * Token + position embedding: {@code out[b, t, ·] = wte[tokens[b, t], ·] + wpe[t, ·]}; {@code tokens [B, T]}
     * int32 in {@code [0, V)}, {@code wte [V, C]}, {@code wpe [maxT, C]} with {@code T ≤ maxT}, {@code out [B, T, C]}.
     * Ids must be in {@code [0, V)}: the CPU backend throws naming the first offending id; the CUDA backend does not
     * read ids on the host, so there an out-of-range id gives a NaN row (and is skipped in the backward) instead of an
     * out-of-bounds read; loaders validate ids on the host.
     */
    void embedding(Tensor tokens, Tensor wte, Tensor wpe, Tensor out);

    /** Embedding backward: scatter-add {@code dwte[tokens[b, t], ·] += dout[b, t, ·]}, {@code dwpe[t, ·] += Σ_b dout[b, t, ·]}. */
    void embeddingBackward(Tensor dout, Tensor tokens, Tensor dwte, Tensor dwpe);

    /**
     * Cross-entropy fused with the softmax over the vocabulary, in one pass over {@code logits [N, V]}:
     * {@code losses[n] = logsumexp(logits[n, ·]) − logits[n, targets[n]]} and
     * {@code dlogits[n, ·] = (softmax(logits[n, ·]) − onehot(targets[n]))·dlossScale} (overwritten; may be
     * {@code logits} itself). {@code targets [N]} int32; {@code dlossScale} is ∂L/∂losses[n], e.g. {@code 1/N} for a
     * mean loss (times the loss scale under mixed precision). A target outside {@code [0, V)} makes the CPU backend
     * throw naming it, and gives a NaN loss on CUDA.
     */
    void crossEntropy(Tensor logits, Tensor targets, float dlossScale, Tensor losses, Tensor dlogits);

    /**
     * Vocabulary-parallel token embedding, this rank's part (Megatron's {@code VocabParallelEmbedding} before its
     * all-reduce): {@code out[n, ·] = wte[tokens[n] − offset, ·]} for the ids this rank holds
     * ({@code offset ≤ id < offset + S}) and {@code 0} for every other id, so that the sum of {@code out} over the
     * ranks is the full embedding. {@code tokens} int32 of any shape with {@code N} elements, {@code wte [S, C]} (the
     * slice's rows), {@code out [tokens' shape…, C]}. Ids must be in {@code [0, slice.vocab)}: the CPU backend throws
     * naming the first one outside; the CUDA backend gives it a NaN row.
     */
    void vocabEmbedding(Tensor tokens, Tensor wte, VocabSlice slice, Tensor out);

    /**
     * {@link #vocabEmbedding}'s backward: {@code dwte[tokens[n] − offset, ·] += dout[n, ·]} for the ids this rank
     * holds, positions added in order (deterministic); {@code dout [tokens' shape…, C]}, {@code dwte [S, C]}.
     */
    void vocabEmbeddingBackward(Tensor dout, Tensor tokens, VocabSlice slice, Tensor dwte);

    /**
     * Vocabulary-parallel cross-entropy, pass 1 of 3, on this rank's logits {@code z [N, S]} (columns
     * {@code j < valid = slice.valid(S)} real): {@code max[n] = max_{j<valid} z[n, j]} ({@code −∞} when the rank holds
     * no real id) and {@code targetLogit[n] = z[n, targets[n] − offset]} when this rank holds {@code targets[n]},
     * else {@code 0}. Then all-reduce MAX of {@code max} and SUM of {@code targetLogit} over the tp group give the
     * global row maximum and target logit. {@code targets} int32 {@code [N]} in {@code [0, slice.vocab)} (the CPU
     * backend throws naming the first outside; the CUDA backend gives it a NaN target logit, hence a NaN loss);
     * {@code max}, {@code targetLogit} fp32 {@code [N]}.
     */
    void vocabLogitStats(Tensor logits, Tensor targets, VocabSlice slice, Tensor max, Tensor targetLogit);

    /**
     * Pass 2 of 3: {@code sumExp[n] = Σ_{j<valid} exp(z[n, j] − max[n])} with the global {@code max [N]}; then an
     * all-reduce SUM over the tp group gives the softmax denominator {@code S_n}.
     */
    void vocabSumExp(Tensor logits, VocabSlice slice, Tensor max, Tensor sumExp);

    /**
     * Pass 3 of 3, from the reduced {@code max}, {@code sumExp} and {@code targetLogit [N]}:
     * {@code losses[n] = log S_n + max_n − targetLogit_n} and
     * {@code dlogits[n, j] = (exp(z[n, j] − max_n)/S_n − [offset + j = targets[n]])·dlossScale} for {@code j < valid},
     * {@code 0} for padding columns ({@code dlogits [N, S]} overwritten; may be {@code logits} itself). With one rank
     * and {@code VocabSlice(0, V)} the three passes equal {@link #crossEntropy}.
     */
    void vocabCrossEntropy(Tensor logits, Tensor targets, VocabSlice slice, Tensor max, Tensor sumExp,
                           Tensor targetLogit, float dlossScale, Tensor losses, Tensor dlogits);

    /**
     * One AdamW step on fp32 tensors of equal shape, for step {@code t ≥ 1}:
     * {@code m = β₁m + (1−β₁)g}, {@code v = β₂v + (1−β₂)g²},
     * {@code p −= lr·(m/(1−β₁ᵗ) / (√(v/(1−β₂ᵗ)) + eps) + weightDecay·p)} (decoupled weight decay).
     */
    void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step);

    /**
     * {@link #adamW} on the gradient {@code gradScale·g} (gradient clipping's factor): the same result, bit for bit,
     * as {@code scale(grad, gradScale)} followed by {@code adamW(param, grad, m, v, step)}, which is what this default
     * does; a backend may instead scale each element in registers and leave {@code grad} unscaled, so {@code grad}'s
     * contents afterwards are unspecified. {@code gradScale} must be finite.
     */
    default void adamW(Tensor param, Tensor grad, float gradScale, Tensor m, Tensor v, AdamWStep step) {
        OpChecks.finiteScale("adamW", gradScale);
        if (gradScale != 1f) {
            scale(grad, gradScale);
        }
        adamW(param, grad, m, v, step);
    }

    /** Converts between dtypes element-wise (fp32 ↔ bf16/fp16 round to nearest even; same dtype copies). */
    void cast(Tensor src, Tensor dst);

    /**
     * {@code x *= s}, and sets the int32 scalar {@code flag} to 1 if any resulting element is NaN or ±Inf (never
     * resets it: zero it once, then check many tensors). For loss-scale unscaling.
     */
    void scaleAndCheckFinite(Tensor x, float s, Tensor flag);

    /** {@code out[0] += Σ x²} into the fp32 scalar {@code out} (for gradient-norm clipping). */
    void sumOfSquares(Tensor x, Tensor out);

    /** Releases the backend's own resources (handles, workspaces); tensors stay with their allocators. */
    @Override
    void close();
}
