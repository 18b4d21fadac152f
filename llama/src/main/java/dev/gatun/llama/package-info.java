/**
 * A Llama-style model on the training engine ({@code dev.gatun.train}): {@link dev.gatun.llama.LlamaConfig} with the
 * published shapes of Llama 3.2 1B and Llama 3.1 8B, its layers (token embedding, decoder layers of RMSNorm,
 * grouped-query attention under rotary embeddings and a SwiGLU MLP, the head) and {@link dev.gatun.llama.LlamaModel},
 * which the engine trains in every data-, tensor- and pipeline-parallel layout with ZeRO and mixed precision.
 */
package dev.gatun.llama;
