package dev.gatun.collectives;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * How a {@link GradientReducer} packs gradients into buckets, as data: PyTorch DDP's
 * {@code compute_bucket_assignment_by_size}. Gradients are taken in <em>reverse</em> registration order (backward
 * produces the last layers' gradients first) and appended to the open bucket; once the bucket holds at least its cap
 * in bytes it is closed (so a bucket may exceed its cap by its last gradient, and a gradient larger than the cap has
 * a bucket of its own). The first bucket's cap is {@code firstCapBytes} (DDP: 1 MiB, so communication starts early),
 * every later one's {@code capBytes} (DDP: 25 MiB).
 *
 * <p>Inside a bucket, gradient {@code gradIndices[k]} occupies elements {@code [offsets[k], offsets[k] + numels[k])};
 * the bucket holds {@code numel} elements, padded with zeros to {@code paddedNumel}, a multiple of
 * {@code padMultiple} (the world size for reduce-scatter, so that shard {@code r} is elements
 * {@code [r·m, (r+1)·m)} with {@code m = paddedNumel / N}).
 *
 * @param buckets     in launch order: bucket 0 holds the last registered gradients
 * @param padMultiple what every {@link Bucket#paddedNumel()} is a multiple of
 */
public record BucketPlan(List<Bucket> buckets, int padMultiple) {
    /** DDP's cap of the first bucket, 1 MiB. */
    public static final long DEFAULT_FIRST_CAP_BYTES = 1L << 20;
    /** DDP's {@code bucket_cap_mb}, 25 MiB. */
    public static final long DEFAULT_CAP_BYTES = 25L << 20;

    /**
     * One bucket.
     *
     * @param index       its place in launch order
     * @param gradIndices the registration indices of its gradients, in the order they are packed (descending)
     * @param offsets     the element offset of each of them in the bucket
     * @param numels      the element count of each of them
     * @param numel       the elements its gradients occupy, {@code Σ numels}
     * @param paddedNumel {@code numel} rounded up to a multiple of the plan's {@code padMultiple}
     */
    public record Bucket(int index, List<Integer> gradIndices, List<Long> offsets, List<Long> numels, long numel,
                         long paddedNumel) {
        public Bucket {
            gradIndices = List.copyOf(gradIndices);
            offsets = List.copyOf(offsets);
            numels = List.copyOf(numels);
        }

        /** The elements of one shard of the padded bucket over {@code worldSize} ranks. */
        public long shardNumel(int worldSize) {
            return paddedNumel / worldSize;
        }
    }

    /**
     * Where one gradient lies: elements {@code [offset, offset + numel)} of bucket {@code bucket}.
     *
     * @param gradIndex its registration index
     * @param bucket    the index of its bucket
     * @param offset    its first element in the bucket
     * @param numel     its element count
     */
    public record Slot(int gradIndex, int bucket, long offset, long numel) {
    }

    public BucketPlan {
        buckets = List.copyOf(buckets);
        if (padMultiple < 1) {
            throw new IllegalArgumentException("padMultiple must be >= 1, got " + padMultiple);
        }
    }

    /**
     * Plans buckets for gradients of {@code numels[i]} elements of {@code elementBytes} bytes each.
     *
     * @throws IllegalArgumentException when there are no gradients, a count is negative, or a cap is not positive
     */
    public static BucketPlan build(long[] numels, int elementBytes, long firstCapBytes, long capBytes,
                                   int padMultiple) {
        Objects.requireNonNull(numels, "numels must not be null");
        if (numels.length == 0) {
            throw new IllegalArgumentException("a bucket plan needs at least one gradient");
        }
        if (firstCapBytes <= 0 || capBytes <= 0) {
            throw new IllegalArgumentException("bucket caps must be positive, got firstCapBytes=" + firstCapBytes
                    + ", capBytes=" + capBytes);
        }
        List<Bucket> buckets = new ArrayList<>();
        List<Integer> grads = new ArrayList<>();
        List<Long> offsets = new ArrayList<>();
        List<Long> counts = new ArrayList<>();
        long numel = 0;
        for (int i = numels.length - 1; i >= 0; i--) {
            if (numels[i] < 0) {
                throw new IllegalArgumentException("gradient " + i + " has " + numels[i] + " elements");
            }
            grads.add(i);
            offsets.add(numel);
            counts.add(numels[i]);
            numel += numels[i];
            long cap = buckets.isEmpty() ? firstCapBytes : capBytes;
            if (numel * elementBytes >= cap || i == 0) {
                long padded = Math.ceilDiv(numel, padMultiple) * padMultiple;
                buckets.add(new Bucket(buckets.size(), grads, offsets, counts, numel, padded));
                grads.clear();
                offsets.clear();
                counts.clear();
                numel = 0;
            }
        }
        return new BucketPlan(buckets, padMultiple);
    }

    /** Where every gradient lies, indexed by registration index. */
    public List<Slot> slots() {
        int count = buckets.stream().mapToInt(b -> b.gradIndices().size()).sum();
        Slot[] slots = new Slot[count];
        for (Bucket b : buckets) {
            for (int k = 0; k < b.gradIndices().size(); k++) {
                int g = b.gradIndices().get(k);
                slots[g] = new Slot(g, b.index(), b.offsets().get(k), b.numels().get(k));
            }
        }
        return List.of(slots);
    }

    /** One line per bucket, e.g. {@code "bucket 0: 262144 elements (padded 262144), grads [5@0, 4@131072]"}. */
    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("BucketPlan(" + buckets.size() + " buckets, pad to multiple of "
                + padMultiple + ")");
        for (Bucket b : buckets) {
            s.append("\n  bucket ").append(b.index()).append(": ").append(b.numel()).append(" elements (padded ")
                    .append(b.paddedNumel()).append("), grads [");
            for (int k = 0; k < b.gradIndices().size(); k++) {
                s.append(k == 0 ? "" : ", ").append(b.gradIndices().get(k)).append('@').append(b.offsets().get(k));
            }
            s.append(']');
        }
        return s.toString();
    }
}
