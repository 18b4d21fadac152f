/**
 * The GPT as a model of the training engine: {@link GptModel} is the {@link dev.gatun.train.Model} (blocks balanced
 * over the pipeline stages, the embedding on the first, the head and the vocabulary-parallel cross-entropy on the
 * last), {@link GptTraining} binds the engine's {@link dev.gatun.train.Training} to a
 * {@link dev.gatun.gpt.data.TokenDataset}, and {@link MemoryEstimate} predicts each rank's memory by category before
 * anything is allocated, by replaying what a rank allocates and frees in its first step.
 */
package dev.gatun.gpt.train;
