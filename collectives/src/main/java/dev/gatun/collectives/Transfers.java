package dev.gatun.collectives;

import dev.gatun.memory.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Function;

/**
 * The data movement of each in-process collective, once every rank has arrived: rank {@code r} does its own share
 * and writes straight into the other ranks' buffers, so the work spreads over the ranks' threads instead of going
 * through one. All-reduce and reduce split the elements into {@link Span}s, rank {@code r} reducing span {@code r}
 * over every input (a reduce-scatter) and writing the result into every output (an all-gather); reduce-scatter's
 * rank reduces its own shard; all-gather's rank copies its input into every output; broadcast's rank copies the
 * root's input into its own output.
 */
final class Transfers {
    /** Bytes of an all-gather's input copied to every output before the next piece (well inside a core's L2). */
    private static final long COPY_CHUNK = 128 * 1024;

    private Transfers() {
    }

    /** Rank {@code rank}'s share of the collective the ranks arrived with, {@code all} indexed by rank. */
    static void perform(int rank, InProcessGroup.Arrival[] all) {
        int size = all.length;
        CommOp mine = (CommOp) all[rank].payload();
        if (size == 1) {
            // Every collective of one rank is out = in: nothing to do in place, one copy otherwise.
            List<Tensor> inOut = mine.tensors();
            if (inOut.size() == 2) {
                copyUnlessSame(inOut.get(0).hostSegment(), inOut.get(1).hostSegment());
            }
            return;
        }
        switch (mine) {
            case CommOp.AllReduce op -> {
                Span span = Span.of(rank, size, op.in().numel());
                Reductions.reduce(op.in().dtype(), op.op(), segments(all, CommOp.AllReduce.class, CommOp.AllReduce::in),
                        span.offset(), segments(all, CommOp.AllReduce.class, CommOp.AllReduce::out), span.offset(),
                        span.length());
            }
            case CommOp.ReduceScatter op -> {
                long m = op.out().numel();
                Reductions.reduce(op.in().dtype(), op.op(),
                        segments(all, CommOp.ReduceScatter.class, CommOp.ReduceScatter::in), rank * m,
                        new MemorySegment[] {op.out().hostSegment()}, 0, m);
            }
            case CommOp.AllGather op -> {
                MemorySegment in = op.in().hostSegment();
                long bytes = in.byteSize();
                MemorySegment[] outs = segments(all, CommOp.AllGather.class, CommOp.AllGather::out);
                // Chunk by chunk, so each piece of the input is read from memory once and copied out from cache.
                for (long done = 0; done < bytes; done += COPY_CHUNK) {
                    long len = Math.min(COPY_CHUNK, bytes - done);
                    for (MemorySegment out : outs) {
                        copyUnlessSame(in.asSlice(done, len), out.asSlice(rank * bytes + done, len));
                    }
                }
            }
            case CommOp.Broadcast op -> {
                CommOp.Broadcast root = (CommOp.Broadcast) all[op.root()].payload();
                copyUnlessSame(root.in().hostSegment(), op.out().hostSegment());
            }
            case CommOp.Reduce op -> {
                Span span = Span.of(rank, size, op.in().numel());
                CommOp.Reduce root = (CommOp.Reduce) all[op.root()].payload();
                Reductions.reduce(op.in().dtype(), op.op(), segments(all, CommOp.Reduce.class, CommOp.Reduce::in),
                        span.offset(), new MemorySegment[] {root.out().hostSegment()}, span.offset(), span.length());
            }
            case CommOp.Barrier op -> {
            }
            case CommOp.Send op -> throw new AssertionError("sends are not collectives");
            case CommOp.Recv op -> throw new AssertionError("recvs are not collectives");
        }
    }

    /** The host memory of one tensor of every rank's call, indexed by rank. */
    private static <T extends CommOp> MemorySegment[] segments(InProcessGroup.Arrival[] all, Class<T> type,
                                                               Function<T, Tensor> tensor) {
        MemorySegment[] out = new MemorySegment[all.length];
        for (int q = 0; q < all.length; q++) {
            out[q] = tensor.apply(type.cast(all[q].payload())).hostSegment();
        }
        return out;
    }

    private static void copyUnlessSame(MemorySegment src, MemorySegment dst) {
        if (src.address() != dst.address()) {
            MemorySegment.copy(src, 0, dst, 0, src.byteSize());
        }
    }
}
