package dev.gatun.gpt.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * A tokenized corpus held in memory, and the deterministic sampling of training batches from it.
 *
 * <p>A global batch for step {@code k} is {@code S} windows of {@code seqLen + 1} consecutive tokens at offsets
 * drawn uniformly from {@code [0, size − seqLen − 1]} by {@code new SplittableRandom(mix(seed, k))}: it depends on
 * {@code (seed, step)} only, never on the parallel layout. Data-parallel rank {@code r} of {@code dp} trains on rows
 * {@code [r·S/dp, (r+1)·S/dp)} of it ({@link #shard}), so the shards of all ranks, concatenated, are the global
 * batch and a run on {@code dp} ranks sees exactly the tokens a run on one rank sees.
 */
public final class TokenDataset {
    private final int[] tokens;

    private TokenDataset(int[] tokens) {
        this.tokens = tokens;
    }

    /** A dataset over {@code tokens} (copied). Too few tokens are reported when a batch is requested. */
    public static TokenDataset of(int[] tokens) {
        return new TokenDataset(tokens.clone());
    }

    /** Tokenizes {@code text} with {@code tokenizer}. */
    public static TokenDataset fromText(String text, Tokenizer tokenizer) {
        return new TokenDataset(tokenizer.encode(text));
    }

    /**
     * Reads {@code file} as UTF-8 (malformed bytes become U+FFFD) and tokenizes it.
     *
     * @throws IllegalArgumentException {@code "data file <path> does not exist"}, or
     *                                  {@code "data file <path> cannot be read: <reason>"}
     */
    public static TokenDataset fromFile(Path file, Tokenizer tokenizer) {
        if (!Files.exists(file)) {
            throw new IllegalArgumentException("data file " + file + " does not exist");
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException | SecurityException e) {
            throw new IllegalArgumentException("data file " + file + " cannot be read: " + e, e);
        }
        return fromText(new String(bytes, StandardCharsets.UTF_8), tokenizer);
    }

    /** Number of tokens. */
    public int size() {
        return tokens.length;
    }

    /** The largest token id, or -1 for an empty dataset; it must be below the model's vocabulary size. */
    public int maxTokenId() {
        int max = -1;
        for (int t : tokens) {
            max = Math.max(max, t);
        }
        return max;
    }

    /**
     * The global batch of training step {@code step}: {@code sequences} windows of {@code seqLen + 1} tokens at
     * offsets uniform in {@code [0, size − seqLen − 1]}; {@code inputs} are the first {@code seqLen} tokens of each
     * window, {@code targets} the last {@code seqLen}.
     *
     * @throws IllegalArgumentException if {@code sequences} or {@code seqLen} is not positive, or the dataset has
     *                                  fewer than {@code seqLen + 1} tokens
     */
    public Batch globalBatch(long seed, long step, int sequences, int seqLen) {
        if (sequences <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException(
                    "sequences=" + sequences + " and seqLen=" + seqLen + " must both be positive");
        }
        if (tokens.length < (long) seqLen + 1) {
            throw new IllegalArgumentException("the corpus has " + tokens.length + " tokens; a sequence of seqLen="
                    + seqLen + " needs at least seqLen+1 = " + ((long) seqLen + 1)
                    + " (use a larger data file or a smaller --seq-len)");
        }
        if ((long) sequences * seqLen > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("sequences*seqLen = " + sequences + "*" + seqLen
                    + " exceeds the largest Java array; expected at most " + Integer.MAX_VALUE + " tokens per batch");
        }
        SplittableRandom random = new SplittableRandom(mix(seed, step));
        int[] inputs = new int[sequences * seqLen];
        int[] targets = new int[sequences * seqLen];
        int offsets = tokens.length - seqLen;
        for (int s = 0; s < sequences; s++) {
            int offset = random.nextInt(offsets);
            System.arraycopy(tokens, offset, inputs, s * seqLen, seqLen);
            System.arraycopy(tokens, offset + 1, targets, s * seqLen, seqLen);
        }
        return new Batch(inputs, targets, sequences, seqLen);
    }

    /**
     * Data-parallel rank {@code rank}'s part of {@code global}: rows {@code [rank·S/ranks, (rank+1)·S/ranks)}.
     *
     * @throws IllegalArgumentException unless {@code ranks} divides {@code global.sequences()} and
     *                                  {@code 0 <= rank < ranks}
     */
    public Batch shard(Batch global, int rank, int ranks) {
        return global.rows(rank, ranks, "ranks");
    }

    /**
     * Micro-batch {@code index} of {@code count} of {@code b}, split by rows exactly as {@link #shard} splits by
     * rank.
     *
     * @throws IllegalArgumentException unless {@code count} divides {@code b.sequences()} and
     *                                  {@code 0 <= index < count}
     */
    public static Batch microBatch(Batch b, int index, int count) {
        return b.rows(index, count, "micro-batch count");
    }

    /** A seed for step {@code step} of the stream {@code seed}: SplitMix64's finalizer, applied twice. */
    private static long mix(long seed, long step) {
        return mix64(mix64(seed) + step);
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    public String toString() {
        return "TokenDataset[" + tokens.length + " tokens]";
    }
}
