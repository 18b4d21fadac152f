package dev.gatun.collectives;

import dev.gatun.memory.DType;

import java.util.Objects;

/**
 * What one call asks for, without its buffers: the part every rank of a collective must agree on (all fields are
 * compared), and what {@link CallLog} records. Printed as {@code allReduce(fp32 × 1009, sum)},
 * {@code broadcast(bf16 × 7, root 2)}, {@code send(fp32 × 64, to 3)}, {@code barrier()}.
 *
 * @param type     the operation
 * @param dtype    the element type; {@code null} for calls without data (barrier, split)
 * @param count    NCCL's count: elements per rank for all-reduce, broadcast, reduce, send and recv; the output's
 *                 elements for reduce-scatter, the input's for all-gather; 0 without data
 * @param root     the root rank of broadcast and reduce, otherwise −1
 * @param peer     the other rank of send and recv, otherwise −1
 * @param reduceOp the reduction of all-reduce, reduce-scatter and reduce, otherwise {@code null}
 * @param bytes    the call's size S in nccl-tests' sense: the buffer for all-reduce, broadcast, reduce, send and
 *                 recv; the whole (larger) input of reduce-scatter and output of all-gather; 0 without data
 */
public record OpSignature(OpType type, DType dtype, long count, int root, int peer, ReduceOp reduceOp, long bytes) {
    public OpSignature {
        Objects.requireNonNull(type, "type must not be null");
    }

    /** The signature of a call that moves no data ({@link OpType#BARRIER}, {@link OpType#SPLIT}). */
    public static OpSignature withoutData(OpType type) {
        return new OpSignature(type, null, 0, -1, -1, null, 0);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder(type.label()).append('(');
        if (dtype != null) {
            s.append(dtype.shortName()).append(" × ").append(count);
        }
        if (reduceOp != null) {
            s.append(", ").append(reduceOp.label());
        }
        if (root >= 0) {
            s.append(", root ").append(root);
        }
        if (peer >= 0) {
            s.append(type == OpType.RECV ? ", from " : ", to ").append(peer);
        }
        return s.append(')').toString();
    }
}
