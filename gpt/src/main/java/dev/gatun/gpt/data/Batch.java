package dev.gatun.gpt.data;

import java.util.Arrays;

/**
 * A batch of next-token-prediction examples: {@code inputs} and {@code targets}, both row-major
 * {@code [sequences, seqLen]}, where {@code targets[s][t]} is the token that follows {@code inputs[s][t]} in the
 * corpus (the inputs shifted left by one token).
 *
 * <p>The arrays are not copied; treat them as read-only. {@code equals} and {@code hashCode} compare contents.
 */
public record Batch(int[] inputs, int[] targets, int sequences, int seqLen) {
    /**
     * @throws IllegalArgumentException if {@code sequences} or {@code seqLen} is not positive, or an array's length is
     *                                  not {@code sequences·seqLen}
     */
    public Batch {
        if (sequences <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException(
                    "sequences=" + sequences + " and seqLen=" + seqLen + " must both be positive");
        }
        long expected = (long) sequences * seqLen;
        if (inputs == null || inputs.length != expected) {
            throw new IllegalArgumentException("inputs has " + (inputs == null ? "no array" : inputs.length + " tokens")
                    + "; expected sequences*seqLen = " + sequences + "*" + seqLen + " = " + expected);
        }
        if (targets == null || targets.length != expected) {
            throw new IllegalArgumentException("targets has "
                    + (targets == null ? "no array" : targets.length + " tokens")
                    + "; expected sequences*seqLen = " + sequences + "*" + seqLen + " = " + expected);
        }
    }

    /** Number of tokens in {@code inputs} (and in {@code targets}): {@code sequences·seqLen}. */
    public int tokens() {
        return inputs.length;
    }

    /**
     * Rows {@code [index·S/count, (index+1)·S/count)} of this batch, {@code S = sequences}; the parts for
     * {@code index = 0..count-1}, concatenated, are this batch.
     *
     * @param what names {@code count} in the error message, e.g. {@code "ranks"}
     */
    Batch rows(int index, int count, String what) {
        if (count <= 0 || sequences % count != 0) {
            throw new IllegalArgumentException(
                    what + "=" + count + " must be positive and divide sequences=" + sequences);
        }
        if (index < 0 || index >= count) {
            throw new IllegalArgumentException("index " + index + " is outside [0, " + what + "=" + count + ")");
        }
        int rows = sequences / count;
        int from = index * rows * seqLen;
        int to = from + rows * seqLen;
        return new Batch(Arrays.copyOfRange(inputs, from, to), Arrays.copyOfRange(targets, from, to), rows, seqLen);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Batch b && sequences == b.sequences && seqLen == b.seqLen
                && Arrays.equals(inputs, b.inputs) && Arrays.equals(targets, b.targets);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(inputs) + Arrays.hashCode(targets)) + 31 * sequences + seqLen;
    }

    @Override
    public String toString() {
        return "Batch[" + sequences + "x" + seqLen + "]";
    }
}
