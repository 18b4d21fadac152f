package dev.gatun.ops;

/**
 * The part of a vocabulary {@code [0, vocab)} that one tensor-parallel rank holds: its local rows (of an embedding
 * table) or columns (of logits) {@code j = 0, 1, …, S−1} stand for the global ids {@code offset + j}. The vocabulary
 * is padded so that tp divides it (Megatron pads to a multiple of 128·tp): local ids from {@link #valid(int)} on are
 * padding, never an input id or target, and left out of the softmax. {@code VocabSlice(0, V)} is the whole
 * vocabulary of an unsplit layer.
 *
 * @param offset the global id of local row/column 0, {@code ≥ 0}
 * @param vocab  the real (unpadded) vocabulary size {@code V ≥ 1}: valid ids are {@code [0, V)}
 */
public record VocabSlice(int offset, int vocab) {
    public VocabSlice {
        if (offset < 0 || vocab < 1) {
            throw new IllegalArgumentException("a vocabulary slice needs offset >= 0 and vocab >= 1, got offset="
                    + offset + ", vocab=" + vocab);
        }
    }

    /** How many of a slice's {@code size} local ids are real: {@code clamp(vocab − offset, 0, size)}. */
    public int valid(int size) {
        return (int) Math.clamp((long) vocab - offset, 0, size);
    }

    /** Whether global id {@code id} falls in this slice of {@code size} local ids. */
    public boolean holds(int id, int size) {
        return id >= offset && id - offset < size;
    }
}
