package dev.gatun.tp;

import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.ops.VocabSlice;

import java.util.Objects;

/**
 * Cross-entropy over logits split along the vocabulary (Megatron's {@code vocab_parallel_cross_entropy}): rank
 * {@code r} holds {@code z_r [N, V/tp]}, the logits of vocabulary ids {@code [r·V/tp, (r+1)·V/tp)}, and the full
 * {@code [N, V]} is never formed. With {@code m_n = max_v z[n, v]} (all-reduce MAX),
 * {@code S_n = Σ_v exp(z[n, v] − m_n)} (all-reduce SUM) and {@code t_n = z[n, target_n]} (the owner's value,
 * all-reduce SUM): {@code loss_n = log S_n + m_n − t_n} and
 * {@code dz[n, v] = (exp(z[n, v] − m_n)/S_n − [v = target_n])·dlossScale} for the local {@code v}. Three all-reduces of
 * {@code [N]} floats between the backend's three passes ({@link Backend#vocabLogitStats},
 * {@link Backend#vocabSumExp}, {@link Backend#vocabCrossEntropy}); runs on the backend's device: CPU or CUDA.
 */
public final class VocabParallelCrossEntropy {
    private final Communicator group;
    private final Backend backend;
    private final TensorAllocator allocator;
    private final Shard shard;
    private final VocabSlice slice;

    /** @throws IllegalArgumentException when tp does not divide {@code vocab} */
    public VocabParallelCrossEntropy(int vocab, Communicator group, Backend backend, TensorAllocator allocator) {
        this(vocab, vocab, group, backend, allocator);
    }

    /**
     * Cross-entropy over a vocabulary padded to {@code paddedVocab} columns (so that tp divides it, as Megatron pads):
     * the logits of ids in {@code [vocab, paddedVocab)} are left out of the softmax (as if {@code −∞}) and get a zero
     * gradient, so the loss does not depend on the padding and hence on tp.
     *
     * @throws IllegalArgumentException when tp does not divide {@code paddedVocab} or {@code vocab} is not in
     *                                  {@code [1, paddedVocab]}
     */
    public VocabParallelCrossEntropy(int vocab, int paddedVocab, Communicator group, Backend backend,
                                     TensorAllocator allocator) {
        this.group = Objects.requireNonNull(group, "group must not be null");
        this.backend = Objects.requireNonNull(backend, "backend must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        if (vocab < 1 || vocab > paddedVocab) {
            throw new IllegalArgumentException("vocab=" + vocab + " must be in [1, paddedVocab=" + paddedVocab + "]");
        }
        this.shard = Shard.of("vocab", paddedVocab, group.size(), group.rank());
        this.slice = new VocabSlice(shard.offset(), vocab);
    }

    /** The vocabulary ids this rank's logits cover. */
    public Shard vocabShard() {
        return shard;
    }

    /**
     * Fills {@code losses [N]} and {@code dlogits [N, V/tp]} (overwritten; may be {@code logits}) from
     * {@code logits [N, V/tp]} and int32 {@code targets [N]} in {@code [0, V)} (outside: the CPU backend throws naming
     * the target; on CUDA its loss is NaN).
     */
    public void forwardBackward(Tensor logits, Tensor targets, float dlossScale, Tensor losses, Tensor dlogits) {
        int v = shard.size();
        long n = targets.numel();
        if (logits.numel() != n * v || dlogits.numel() != logits.numel() || losses.numel() != n
                || targets.dtype() != DType.INT32) {
            throw new IllegalArgumentException("vocab-parallel cross-entropy needs logits and dlogits [" + n + ", "
                    + v + "], losses [" + n + "] and int32 targets [" + n + "]; got " + logits.shape() + ", "
                    + dlogits.shape() + ", " + losses.shape() + " and " + targets.dtype().shortName()
                    + targets.shape());
        }
        Tensor z = logits.reshape(n, v);
        Tensor dz = dlogits.reshape(n, v);
        Tensor t = targets.reshape(n);
        Tensor l = losses.reshape(n);
        try (Tensor max = scratch("ce.max", n); Tensor sum = scratch("ce.sumExp", n);
             Tensor target = scratch("ce.targetLogit", n)) {
            backend.vocabLogitStats(z, t, slice, max, target);
            allReduce(max, ReduceOp.MAX);
            backend.vocabSumExp(z, slice, max, sum);
            allReduce(sum, ReduceOp.SUM);
            allReduce(target, ReduceOp.SUM);
            backend.vocabCrossEntropy(z, t, slice, max, sum, target, dlossScale, l, dz);
        }
    }

    private Tensor scratch(String name, long n) {
        return Tensor.allocate(allocator, DType.FP32, Shape.of(n), MemoryCategory.COMMUNICATION, name,
                backend.stream());
    }

    private void allReduce(Tensor t, ReduceOp op) {
        if (group.size() > 1) {
            group.allReduce(t, op);
        }
    }
}
