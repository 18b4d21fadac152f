package dev.gatun.tp;

import dev.gatun.collectives.Communicator;
import dev.gatun.collectives.ReduceOp;
import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * Cross-entropy over logits split along the vocabulary (Megatron's {@code vocab_parallel_cross_entropy}): rank
 * {@code r} holds {@code z_r [N, V/tp]}, the logits of vocabulary ids {@code [r·V/tp, (r+1)·V/tp)}, and the full
 * {@code [N, V]} is never formed. With {@code m_n = max_v z[n, v]} (all-reduce MAX),
 * {@code S_n = Σ_v exp(z[n, v] − m_n)} (all-reduce SUM) and {@code t_n = z[n, target_n]} (the owner's value,
 * all-reduce SUM): {@code loss_n = log S_n + m_n − t_n} and
 * {@code dz[n, v] = (exp(z[n, v] − m_n)/S_n − [v = target_n])·dlossScale} for the local {@code v}. Three all-reduces of
 * {@code [N]} floats. Host (CPU) tensors only: the loops run in Java over host memory.
 */
public final class VocabParallelCrossEntropy {
    private final Communicator group;
    private final TensorAllocator allocator;
    private final DeviceStream stream;
    private final int vocab;
    private final Shard shard;
    /** The local columns {@code [0, valid)} are real vocabulary ids; the rest is padding. */
    private final int valid;

    /** @throws IllegalArgumentException when tp does not divide {@code vocab} */
    public VocabParallelCrossEntropy(int vocab, Communicator group, TensorAllocator allocator, DeviceStream stream) {
        this(vocab, vocab, group, allocator, stream);
    }

    /**
     * Cross-entropy over a vocabulary padded to {@code paddedVocab} columns (so that tp divides it, as Megatron pads):
     * the logits of ids in {@code [vocab, paddedVocab)} are left out of the softmax (as if {@code −∞}) and get a zero
     * gradient, so the loss does not depend on the padding and hence on tp.
     *
     * @throws IllegalArgumentException when tp does not divide {@code paddedVocab} or {@code vocab} is not in
     *                                  {@code [1, paddedVocab]}
     */
    public VocabParallelCrossEntropy(int vocab, int paddedVocab, Communicator group, TensorAllocator allocator,
                                     DeviceStream stream) {
        this.group = Objects.requireNonNull(group, "group must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        this.stream = Objects.requireNonNull(stream, "stream must not be null");
        if (vocab < 1 || vocab > paddedVocab) {
            throw new IllegalArgumentException("vocab=" + vocab + " must be in [1, paddedVocab=" + paddedVocab + "]");
        }
        this.vocab = vocab;
        this.shard = Shard.of("vocab", paddedVocab, group.size(), group.rank());
        this.valid = Math.clamp((long) vocab - shard.offset(), 0, shard.size());
    }

    /** The vocabulary ids this rank's logits cover. */
    public Shard vocabShard() {
        return shard;
    }

    /**
     * Fills {@code losses [N]} and {@code dlogits [N, V/tp]} (overwritten; may be {@code logits}) from
     * {@code logits [N, V/tp]} and int32 {@code targets [N]} in {@code [0, V)}.
     */
    public void forwardBackward(Tensor logits, Tensor targets, float dlossScale, Tensor losses, Tensor dlogits) {
        int v = shard.size();
        int n = Math.toIntExact(targets.numel());
        if (logits.numel() != (long) n * v || dlogits.numel() != logits.numel() || losses.numel() != n
                || targets.dtype() != DType.INT32) {
            throw new IllegalArgumentException("vocab-parallel cross-entropy needs logits and dlogits [" + n + ", "
                    + v + "], losses [" + n + "] and int32 targets [" + n + "]; got " + logits.shape() + ", "
                    + dlogits.shape() + ", " + losses.shape() + " and " + targets.dtype().shortName()
                    + targets.shape());
        }
        MemorySegment z = logits.hostSegment();
        MemorySegment dz = dlogits.hostSegment();
        MemorySegment t = targets.hostSegment();
        for (int i = 0; i < n; i++) {
            int id = t.getAtIndex(ValueLayout.JAVA_INT, i);
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("target " + id + " at row " + i + " is outside [0, " + vocab
                        + ")");
            }
        }
        try (Tensor max = scratch("ce.max", n); Tensor sum = scratch("ce.sumExp", n);
             Tensor target = scratch("ce.targetLogit", n)) {
            MemorySegment m = max.hostSegment();
            MemorySegment s = sum.hostSegment();
            MemorySegment tz = target.hostSegment();
            for (int i = 0; i < n; i++) {
                float best = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < valid; j++) {
                    best = Math.max(best, z.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * v + j));
                }
                m.setAtIndex(ValueLayout.JAVA_FLOAT, i, best);
                int id = t.getAtIndex(ValueLayout.JAVA_INT, i);
                tz.setAtIndex(ValueLayout.JAVA_FLOAT, i, shard.contains(id)
                        ? z.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * v + id - shard.offset()) : 0f);
            }
            allReduce(max, ReduceOp.MAX);
            for (int i = 0; i < n; i++) {
                float mi = m.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                double acc = 0;
                for (int j = 0; j < valid; j++) {
                    acc += StrictMath.exp(z.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * v + j) - mi);
                }
                s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) acc);
            }
            allReduce(sum, ReduceOp.SUM);
            allReduce(target, ReduceOp.SUM);
            MemorySegment loss = losses.hostSegment();
            for (int i = 0; i < n; i++) {
                float mi = m.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                float si = s.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                loss.setAtIndex(ValueLayout.JAVA_FLOAT, i,
                        (float) (StrictMath.log(si) + mi - tz.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
                int local = t.getAtIndex(ValueLayout.JAVA_INT, i) - shard.offset();
                for (int j = 0; j < v; j++) {
                    long k = (long) i * v + j;
                    double p = j < valid ? StrictMath.exp(z.getAtIndex(ValueLayout.JAVA_FLOAT, k) - mi) / si : 0;
                    dz.setAtIndex(ValueLayout.JAVA_FLOAT, k, (float) ((p - (j == local ? 1 : 0)) * dlossScale));
                }
            }
        }
    }

    private Tensor scratch(String name, int n) {
        return Tensor.allocate(allocator, DType.FP32, Shape.of(n), MemoryCategory.COMMUNICATION, name, stream);
    }

    private void allReduce(Tensor t, ReduceOp op) {
        if (group.size() > 1) {
            group.allReduce(t, op);
        }
    }
}
