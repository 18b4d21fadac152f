/**
 * Megatron-style tensor parallelism over one tp group: a {@link ColumnParallelLinear} splits {@code W [out, in]} by
 * output rows and a {@link RowParallelLinear} by input columns, so that a column-parallel layer followed by a
 * row-parallel one ({@link ParallelMlp}, {@link ParallelAttention} split by heads) costs one all-reduce forward and one
 * backward. Communication goes through the conjugate pairs of {@link Mappings}: {@code f} (forward identity, backward
 * all-reduce) enters the parallel region, {@code g} (forward all-reduce, backward identity) leaves it.
 * {@link VocabParallelEmbedding} and {@link VocabParallelCrossEntropy} split the vocabulary. Weights are
 * {@link Parameter} shards ({@link Shard}), initialised by {@link ParameterInit} so that a shard equals the slice of
 * the unsharded tensor whatever the tp size.
 */
package dev.gatun.tp;
