/**
 * Training data for the GPT: {@link Tokenizer}s ({@link ByteTokenizer}, GPT-2's BPE {@link Gpt2Tokenizer}, looked up by
 * name through {@link Tokenizers}), the synthetic default corpus {@link ArithmeticCorpus}, and {@link TokenDataset}, a
 * tokenized corpus whose global batch for step {@code k} depends on {@code (seed, k)} only, never on the layout: a
 * data-parallel rank's shard is a contiguous range of its rows, so the shards of all ranks make up the batch one rank
 * would see. A {@link Batch} holds next-token inputs and targets, both {@code [sequences, seqLen]}.
 */
package dev.gatun.gpt.data;
