package dev.gatun.collectives;

import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Averages gradients over the ranks of a data-parallel communicator in buckets, overlapping communication with the
 * backward pass: PyTorch DDP's {@code Reducer}. The gradients are packed into buckets by a {@link BucketPlan} (reverse
 * registration order, a small first bucket). During backward, {@link #markReady} copies each finished gradient into
 * its bucket; when every gradient of a bucket is in, and every earlier bucket has been launched, the bucket's
 * collective is {@linkplain Communicator#submit submitted} (buckets launch in plan order on every rank, whatever
 * order the gradients arrive in, as DDP does). {@link #finish} waits for them all.
 *
 * <ul>
 *   <li>{@link Mode#ALL_REDUCE}: each bucket is all-reduced with {@link ReduceOp#AVG}; {@code finish} copies the
 *   bucket back, so afterwards every gradient {@code g_r = (1/N) Σ_q g_q}.</li>
 *   <li>{@link Mode#REDUCE_SCATTER} (ZeRO): each bucket, zero-padded to {@code paddedNumel = N·m}, is
 *   reduce-scattered with {@link ReduceOp#AVG} in place; after {@code finish}, {@link #shard(int) shard(b)} is
 *   elements {@code [r·m, (r+1)·m)} of the averaged bucket {@code b}; the gradients themselves and the rest of the
 *   bucket are left as they were. {@link #plan()} maps gradients to bucket ranges.</li>
 * </ul>
 *
 * <p>Used by one rank's thread, like its communicator. Copies run on {@link Communicator#stream()}.
 */
public final class GradientReducer implements AutoCloseable {
    /** What a bucket's collective leaves behind. */
    public enum Mode {
        /** Every rank gets the averaged gradients (DDP). */
        ALL_REDUCE,
        /** Each rank gets its shard of every averaged bucket (ZeRO-2). */
        REDUCE_SCATTER
    }

    private final Communicator comm;
    private final Mode mode;
    private final List<Tensor> grads;
    private final BucketPlan plan;
    private final List<BucketPlan.Slot> slots;
    private final List<Tensor> buckets = new ArrayList<>();
    private final boolean[] marked;
    private final int[] pending;
    private final Work[] works;
    private int nextLaunch;

    /** A reducer with DDP's caps: 1 MiB for the first bucket, 25 MiB for the others. */
    public GradientReducer(Communicator comm, TensorAllocator allocator, List<Tensor> grads, Mode mode) {
        this(comm, allocator, grads, mode, BucketPlan.DEFAULT_FIRST_CAP_BYTES, BucketPlan.DEFAULT_CAP_BYTES);
    }

    /**
     * A reducer for {@code grads} (in registration order) whose bucket buffers come from {@code allocator}.
     *
     * @throws IllegalArgumentException when there are no gradients, they differ in dtype or device, one is registered
     *                                  twice, or the allocator is for another device
     */
    public GradientReducer(Communicator comm, TensorAllocator allocator, List<Tensor> grads, Mode mode,
                           long firstCapBytes, long capBytes) {
        this.comm = Objects.requireNonNull(comm, "comm must not be null");
        Objects.requireNonNull(allocator, "allocator must not be null");
        this.mode = Objects.requireNonNull(mode, "mode must not be null");
        this.grads = List.copyOf(Objects.requireNonNull(grads, "grads must not be null"));
        if (this.grads.isEmpty()) {
            throw new IllegalArgumentException("a gradient reducer needs at least one gradient");
        }
        Tensor first = this.grads.getFirst();
        long[] numels = new long[this.grads.size()];
        for (int i = 0; i < numels.length; i++) {
            Tensor g = this.grads.get(i);
            if (g.dtype() != first.dtype() || !g.device().equals(first.device())) {
                throw new IllegalArgumentException("gradient " + i + " '" + g.name() + "' is " + g.dtype().shortName()
                        + " on " + g.device() + " but gradient 0 '" + first.name() + "' is "
                        + first.dtype().shortName() + " on " + first.device()
                        + ": all gradients of a reducer must share dtype and device (use one reducer per dtype)");
            }
            if (indexOf(g, i) >= 0) {
                throw new IllegalArgumentException("gradient " + i + " '" + g.name()
                        + "' is the same memory as gradient " + indexOf(g, i) + ": register each gradient once");
            }
            numels[i] = g.numel();
        }
        if (!allocator.device().equals(first.device())) {
            throw new IllegalArgumentException("the bucket allocator is for " + allocator.device()
                    + " but the gradients are on " + first.device() + ": pass an allocator for " + first.device());
        }
        int pad = mode == Mode.REDUCE_SCATTER ? comm.size() : 1;
        this.plan = BucketPlan.build(numels, first.dtype().byteSize(), firstCapBytes, capBytes, pad);
        this.slots = plan.slots();
        boolean ok = false;
        try {
            for (BucketPlan.Bucket b : plan.buckets()) {
                buckets.add(Tensor.zeros(allocator, first.dtype(), Shape.of(b.paddedNumel()),
                        MemoryCategory.COMMUNICATION, comm.name() + ".grad_bucket" + b.index(), comm.stream()));
            }
            ok = true;
        } finally {
            if (!ok) {
                buckets.forEach(Tensor::close);
            }
        }
        this.marked = new boolean[numels.length];
        this.pending = new int[plan.buckets().size()];
        this.works = new Work[plan.buckets().size()];
        reset();
    }

    /** The bucket layout. */
    public BucketPlan plan() {
        return plan;
    }

    /** The mode. */
    public Mode mode() {
        return mode;
    }

    /** Bucket {@code b}'s whole buffer ({@code paddedNumel} elements). */
    public Tensor bucket(int b) {
        return buckets.get(b);
    }

    /**
     * This rank's shard of bucket {@code b}: elements {@code [r·m, (r+1)·m)}, {@code m = paddedNumel / N}; after
     * {@link #finish} in {@link Mode#REDUCE_SCATTER} it holds the average over the ranks of those elements.
     */
    public Tensor shard(int b) {
        Tensor t = buckets.get(b);
        long m = plan.buckets().get(b).shardNumel(comm.size());
        return t.flat(comm.rank() * m, m);
    }

    /**
     * Gradient {@code gradIndex} is final for this step: copies it into its bucket and launches every bucket, in plan
     * order, that is now complete.
     *
     * @throws IllegalStateException when it was already marked this step
     */
    public void markReady(int gradIndex) {
        Objects.checkIndex(gradIndex, grads.size());
        if (marked[gradIndex]) {
            throw new IllegalStateException("gradient " + gradIndex + " '" + grads.get(gradIndex).name()
                    + "' was already marked ready this step: mark each gradient once between finish() calls");
        }
        BucketPlan.Slot slot = slots.get(gradIndex);
        Tensor g = grads.get(gradIndex);
        buckets.get(slot.bucket()).flat(slot.offset(), slot.numel()).copyFrom(g.reshape(g.numel()), comm.stream());
        marked[gradIndex] = true;
        pending[slot.bucket()]--;
        while (nextLaunch < pending.length && pending[nextLaunch] == 0) {
            works[nextLaunch] = launch(nextLaunch);
            nextLaunch++;
        }
    }

    /**
     * {@link #markReady(int)} for a registered gradient, found by its memory (same storage and offset).
     *
     * @throws IllegalArgumentException when {@code grad} is not registered or differs from the registered one in
     *                                  dtype or element count
     */
    public void markReady(Tensor grad) {
        Objects.requireNonNull(grad, "grad must not be null");
        int i = indexOf(grad, grads.size());
        if (i < 0) {
            throw new IllegalArgumentException("'" + grad.name() + "' is not a gradient of this reducer ("
                    + grads.size() + " registered): pass a registered tensor or its index");
        }
        Tensor g = grads.get(i);
        if (g.dtype() != grad.dtype() || g.numel() != grad.numel()) {
            throw new IllegalArgumentException("'" + grad.name() + "' " + grad.dtype().shortName() + grad.shape()
                    + " lies where gradient " + i + " '" + g.name() + "' " + g.dtype().shortName() + g.shape()
                    + " was registered: pass the registered tensor");
        }
        markReady(i);
    }

    /**
     * Waits for every bucket's collective; in {@link Mode#ALL_REDUCE} copies the averages back into the gradients.
     * Then resets for the next step.
     *
     * @throws IllegalStateException naming the gradients not marked ready; nothing has changed: mark them and call
     *                               again
     * @throws CollectiveException   a bucket's collective failed
     */
    public void finish() {
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < marked.length; i++) {
            if (!marked[i]) {
                missing.add(i + " '" + grads.get(i).name() + "'");
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalStateException("finish() with " + missing.size() + " of " + marked.length
                    + " gradients not marked ready: " + String.join(", ", missing)
                    + "; mark them (unused parameters need a zero gradient) before finishing the step");
        }
        for (int b = 0; b < works.length; b++) {
            works[b].await();
            if (mode == Mode.ALL_REDUCE) {
                BucketPlan.Bucket bucket = plan.buckets().get(b);
                for (int k = 0; k < bucket.gradIndices().size(); k++) {
                    Tensor g = grads.get(bucket.gradIndices().get(k));
                    g.reshape(g.numel()).copyFrom(buckets.get(b).flat(bucket.offsets().get(k), g.numel()),
                            comm.stream());
                }
            }
        }
        reset();
    }

    /** Frees the bucket buffers (after waiting for launched collectives). */
    @Override
    public void close() {
        for (int b = 0; b < nextLaunch; b++) {
            if (works[b] != null && !works[b].isDone()) {
                works[b].await();
            }
        }
        buckets.forEach(Tensor::close);
    }

    private Work launch(int b) {
        Tensor t = buckets.get(b);
        return switch (mode) {
            case ALL_REDUCE -> {
                Tensor used = t.flat(0, plan.buckets().get(b).numel());
                yield comm.allReduceAsync(used, used, ReduceOp.AVG);
            }
            case REDUCE_SCATTER -> comm.reduceScatterAsync(t, shard(b), ReduceOp.AVG);
        };
    }

    private void reset() {
        Arrays.fill(marked, false);
        Arrays.fill(works, null);
        for (BucketPlan.Bucket b : plan.buckets()) {
            pending[b.index()] = b.gradIndices().size();
        }
        nextLaunch = 0;
    }

    private int indexOf(Tensor t, int limit) {
        for (int i = 0; i < limit; i++) {
            Tensor g = grads.get(i);
            if (g.storage() == t.storage() && g.byteOffset() == t.byteOffset()) {
                return i;
            }
        }
        return -1;
    }
}
