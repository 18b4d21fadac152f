package dev.gatun.collectives;

import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.Tensor;

import java.util.List;

/**
 * The calls between the {@link #size() N} ranks of a group, with NCCL's semantics, on {@link Tensor}s. Below,
 * {@code r} is the calling rank, {@code in_q}/{@code out_q} the buffers rank {@code q} passes and {@code ⊕} the
 * {@link ReduceOp} applied element by element, in rank order {@code q = 0, 1, …, N−1}:
 * <ul>
 *   <li>all-reduce: {@code out_r = ⊕_q in_q} for every {@code r} (n elements in and out);</li>
 *   <li>reduce-scatter: {@code out_r = (⊕_q in_q)[r·m, (r+1)·m)} ({@code in}: N·m elements, {@code out}: m);</li>
 *   <li>all-gather: {@code out_r = concat_q in_q} ({@code in}: m elements, {@code out}: N·m);</li>
 *   <li>broadcast: {@code out_r = in_root}; reduce: {@code out_root = ⊕_q in_q};</li>
 *   <li>send/recv: the k-th send from {@code a} to {@code b} fills the k-th recv on {@code b} from {@code a}.</li>
 * </ul>
 * Floating-point reductions of fp32, bf16 and fp16 accumulate in fp32 and round once to the element type; integer
 * sums wrap. The records in {@link CommOp} state each call's shapes and in-place rules.
 *
 * <p><b>Ordering.</b> Every rank must make the same collective calls in the same order, with the same
 * {@linkplain OpSignature signature} (operation, dtype, count, root, reduce op). Calls are ordered on the rank's
 * {@link #stream()}: when {@link #execute} (or a named method) returns, work enqueued later on that stream sees the
 * result. On a CUDA backend that means the call is enqueued; on the CPU, whose stream work is complete at once, that
 * the result is in {@code out}. {@link #submit} (the {@code …Async} methods) returns a {@link Work} at once, so
 * computation overlaps communication; calls on one communicator still run in the order they were made.
 *
 * <p><b>Groups.</b> Calls made inside {@link #group} are held and issued together when it ends (NCCL's
 * {@code ncclGroupStart}/{@code ncclGroupEnd}), so paired sends and recvs, e.g. around a ring, cannot deadlock. Inside
 * a group the calls return at once; their results are ready when {@code group} returns.
 *
 * <p><b>Failures.</b> Arguments are checked before anything is issued ({@link IllegalArgumentException}). A call
 * whose peers do not arrive within the timeout, or arrive with a different signature, fails on every waiting rank
 * with a {@link CollectiveException} naming the operation, the sequence number, the ranks that had and had not
 * arrived, and the rank's recent calls; the communicator is unusable afterwards. No call waits forever.
 *
 * <p><b>Records.</b> Every call gets a sequence number (0, 1, 2, … per rank and communicator) and is recorded in a
 * bounded ring ({@link #recentCalls()}); calls and bytes are counted per operation ({@link #stats()}).
 *
 * <p>A communicator belongs to one rank and is used by one thread at a time (the rank's).
 */
public interface Communicator extends AutoCloseable {
    /** A name for messages, e.g. {@code "world"} or {@code "tp[pp=0,dp=1]"}. */
    String name();

    /** This rank's index in the group, in {@code [0, size())}. */
    int rank();

    /** The number of ranks in the group. */
    int size();

    /** The stream calls are ordered on. */
    DeviceStream stream();

    /**
     * Issues {@code op} in stream order (see the class comment); inside a {@link #group}, holds it until the group
     * ends.
     *
     * @throws IllegalArgumentException when the call is invalid for this rank or backend; nothing is issued
     * @throws CollectiveException      when the ranks disagree or do not arrive within the timeout
     */
    void execute(CommOp op);

    /**
     * Issues {@code op} asynchronously and returns at once; its failure is thrown by {@link Work#await()}.
     *
     * @throws IllegalArgumentException when the call is invalid for this rank or backend; nothing is issued
     */
    Work submit(CommOp op);

    /**
     * Runs {@code calls} (which make calls on this communicator) as one group: the calls are issued together when
     * {@code calls} returns, and this method returns once they are done. Groups may nest; the outermost issues.
     */
    void group(Runnable calls);

    /** {@link #group} that returns at once; the returned work completes when every call of the group has. */
    Work groupAsync(Runnable calls);

    /**
     * A communicator for the ranks that pass the same {@code color}, ranked by {@code (key, rank)} (NCCL's
     * {@code ncclCommSplit}). A collective over this communicator: every rank must call it.
     *
     * @param color the group to join, {@code >= 0}
     * @param key   the order within the group
     * @param name  the new communicator's name, e.g. {@code "tp[pp=0,dp=1]"}
     */
    Communicator split(int color, int key, String name);

    /** The most recent calls on this rank, oldest first (a bounded number of them). */
    List<CallRecord> recentCalls();

    /** Calls and bytes per operation issued on this rank so far. */
    CommStats stats();

    /** Releases the communicator after its outstanding calls are done. */
    @Override
    void close();

    /** All-reduce: {@code out_r = ⊕_q in_q}; see {@link CommOp.AllReduce}. */
    default void allReduce(Tensor in, Tensor out, ReduceOp op) {
        execute(new CommOp.AllReduce(in, out, op));
    }

    /** All-reduce in place: {@code t_r = ⊕_q t_q}. */
    default void allReduce(Tensor inOut, ReduceOp op) {
        execute(new CommOp.AllReduce(inOut, inOut, op));
    }

    /** {@link #allReduce(Tensor, Tensor, ReduceOp)}, asynchronously. */
    default Work allReduceAsync(Tensor in, Tensor out, ReduceOp op) {
        return submit(new CommOp.AllReduce(in, out, op));
    }

    /** Reduce-scatter: {@code out_r = (⊕_q in_q)[r·m, (r+1)·m)}; see {@link CommOp.ReduceScatter}. */
    default void reduceScatter(Tensor in, Tensor out, ReduceOp op) {
        execute(new CommOp.ReduceScatter(in, out, op));
    }

    /** {@link #reduceScatter}, asynchronously. */
    default Work reduceScatterAsync(Tensor in, Tensor out, ReduceOp op) {
        return submit(new CommOp.ReduceScatter(in, out, op));
    }

    /** All-gather: {@code out_r = concat_q in_q}; see {@link CommOp.AllGather}. */
    default void allGather(Tensor in, Tensor out) {
        execute(new CommOp.AllGather(in, out));
    }

    /** {@link #allGather}, asynchronously. */
    default Work allGatherAsync(Tensor in, Tensor out) {
        return submit(new CommOp.AllGather(in, out));
    }

    /** Broadcast: {@code out_r = in_root}; see {@link CommOp.Broadcast}. */
    default void broadcast(Tensor in, Tensor out, int root) {
        execute(new CommOp.Broadcast(in, out, root));
    }

    /** {@link #broadcast}, asynchronously. */
    default Work broadcastAsync(Tensor in, Tensor out, int root) {
        return submit(new CommOp.Broadcast(in, out, root));
    }

    /** Reduce: {@code out_root = ⊕_q in_q}; see {@link CommOp.Reduce}. */
    default void reduce(Tensor in, Tensor out, ReduceOp op, int root) {
        execute(new CommOp.Reduce(in, out, op, root));
    }

    /** {@link #reduce}, asynchronously. */
    default Work reduceAsync(Tensor in, Tensor out, ReduceOp op, int root) {
        return submit(new CommOp.Reduce(in, out, op, root));
    }

    /** Sends {@code tensor} to rank {@code peer}; returns once the peer has received it (or, in a group, at once). */
    default void send(Tensor tensor, int peer) {
        execute(new CommOp.Send(tensor, peer));
    }

    /** {@link #send}, asynchronously: do not write {@code tensor} before the work is done. */
    default Work sendAsync(Tensor tensor, int peer) {
        return submit(new CommOp.Send(tensor, peer));
    }

    /** Receives into {@code tensor} from rank {@code peer}. */
    default void recv(Tensor tensor, int peer) {
        execute(new CommOp.Recv(tensor, peer));
    }

    /** {@link #recv}, asynchronously: do not read {@code tensor} before the work is done. */
    default Work recvAsync(Tensor tensor, int peer) {
        return submit(new CommOp.Recv(tensor, peer));
    }

    /** Returns once every rank has called it. */
    default void barrier() {
        execute(new CommOp.Barrier());
    }
}
