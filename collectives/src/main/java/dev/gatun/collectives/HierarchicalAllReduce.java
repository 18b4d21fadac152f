package dev.gatun.collectives;

import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.Objects;

/**
 * All-reduce over {@code nodes × gpusPerNode} ranks in three steps that keep most traffic inside a node (Horovod's
 * hierarchical all-reduce, NCCL's tree/ring split): ranks are node-major, {@code rank = node·g + local}, and with
 * {@code m = ⌈n / g⌉}
 * <ol>
 *   <li>reduce-scatter inside the node: local rank {@code l} gets {@code (⊕_{l'} x)[l·m, (l+1)·m)} of its node;</li>
 *   <li>all-reduce of that shard across nodes, among the ranks of local index {@code l};</li>
 *   <li>all-gather inside the node.</li>
 * </ol>
 * The result is {@code x_r = ⊕_q x_q} as with a flat all-reduce (for {@link ReduceOp#AVG} the average of the node
 * averages, equal since nodes are the same size), up to floating-point rounding of the intermediate. When
 * {@code g} does not divide {@code n}, the tensor goes through a zero-padded scratch buffer of {@code g·m} elements.
 *
 * <p>The constructor {@linkplain Communicator#split splits} the world communicator, so every rank must call it.
 * Used by one rank's thread, like its communicator.
 */
public final class HierarchicalAllReduce implements AutoCloseable {
    private final Communicator intraNode;
    private final Communicator interNode;
    private final TensorAllocator scratchAllocator;

    /**
     * @param world            all {@code nodes × gpusPerNode} ranks, node-major
     * @param gpusPerNode      ranks per node, {@code g}
     * @param scratchAllocator where padded scratch buffers come from (for counts {@code g} does not divide)
     * @throws IllegalArgumentException when {@code gpusPerNode} does not divide the world size
     */
    public HierarchicalAllReduce(Communicator world, int gpusPerNode, TensorAllocator scratchAllocator) {
        Objects.requireNonNull(world, "world must not be null");
        this.scratchAllocator = Objects.requireNonNull(scratchAllocator, "scratchAllocator must not be null");
        if (gpusPerNode < 1 || world.size() % gpusPerNode != 0) {
            throw new IllegalArgumentException("gpusPerNode=" + gpusPerNode + " must be >= 1 and divide the world size "
                    + world.size() + " of '" + world.name() + "'");
        }
        int node = world.rank() / gpusPerNode;
        int local = world.rank() % gpusPerNode;
        this.intraNode = world.split(node, local, "intra[node=" + node + "]");
        this.interNode = world.split(local, node, "inter[local=" + local + "]");
    }

    /** The ranks of this node, ranked by local index. */
    public Communicator intraNode() {
        return intraNode;
    }

    /** The ranks with this rank's local index, one per node, ranked by node. */
    public Communicator interNode() {
        return interNode;
    }

    /** All-reduces {@code inOut} in place over the world: {@code x_r = ⊕_q x_q}. */
    public void allReduce(Tensor inOut, ReduceOp op) {
        Objects.requireNonNull(inOut, "inOut must not be null");
        Objects.requireNonNull(op, "op must not be null");
        int g = intraNode.size();
        if (g == 1) {
            interNode.allReduce(inOut, op);
            return;
        }
        long n = inOut.numel();
        if (n % g == 0) {
            threeSteps(inOut.reshape(n), op);
            return;
        }
        long m = Math.ceilDiv(n, g);
        try (Tensor scratch = Tensor.allocate(scratchAllocator, inOut.dtype(), Shape.of(g * m),
                MemoryCategory.COMMUNICATION, intraNode.name() + ".hier_scratch", intraNode.stream())) {
            scratch.flat(n, g * m - n).fill(0, intraNode.stream());
            scratch.flat(0, n).copyFrom(inOut.reshape(n), intraNode.stream());
            threeSteps(scratch, op);
            inOut.reshape(n).copyFrom(scratch.flat(0, n), intraNode.stream());
        }
    }

    /** Closes the two sub-communicators (not the world's, which the caller owns). */
    @Override
    public void close() {
        intraNode.close();
        interNode.close();
    }

    private void threeSteps(Tensor flat, ReduceOp op) {
        int g = intraNode.size();
        long m = flat.numel() / g;
        Tensor shard = flat.flat(intraNode.rank() * m, m);
        intraNode.reduceScatter(flat, shard, op);
        interNode.allReduce(shard, op);
        intraNode.allGather(shard, flat);
    }
}
