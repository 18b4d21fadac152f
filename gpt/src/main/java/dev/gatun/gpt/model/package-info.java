/**
 * The layers of a GPT-2-style model, tensor-parallel as Megatron's: {@link EmbeddingLayer} ({@code wte} split by
 * vocabulary, plus {@code wpe}), pre-LayerNorm {@link TransformerBlock}s ({@code r = x + attn(ln_1(x))},
 * {@code y = r + mlp(ln_2(r))}, attention split by heads and the MLP by hidden columns: two all-reduces forward, two
 * backward) and {@link LmHead} (final LayerNorm and vocabulary-parallel logits, with the head tied to the token
 * embedding or its own). {@link GptConfig} gives the shape, {@link ModelPartition} the layers of each pipeline stage.
 */
package dev.gatun.gpt.model;
