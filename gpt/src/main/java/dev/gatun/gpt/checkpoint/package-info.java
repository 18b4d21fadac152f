/**
 * GPT weights to and from Hugging Face: {@link HuggingFaceGpt2} reads and exports the model as one safetensors file
 * with {@code GPT2LMHeadModel}'s tensor names (GPT-2's {@code Conv1D} weights stored {@code [in, out]}, the transpose
 * of Gatun's {@code [out, in]}; the vocabulary unpadded), to and from the full
 * {@link dev.gatun.train.checkpoint.ModelWeights} that the shards of any layout are put together from.
 */
package dev.gatun.gpt.checkpoint;
