/**
 * Checkpoints that survive a crash and a change of layout: a {@link CheckpointDirectory} holds a {@code step-<n>}
 * folder per save with one safetensors file per rank and a {@code checkpoint.json} written last by rank 0 (sizes,
 * CRC-32C, the global index runs of every shard), so a save that dies part-way leaves the previous checkpoint the
 * newest that verifies. {@link SafetensorsWriter} writes files atomically and {@link SafetensorsFile} reads them after
 * checking the whole header; {@link ModelWeights} holds a model's full parameters by name, which the shards of any
 * layout are put into and taken from by global index.
 */
package dev.gatun.train.checkpoint;
