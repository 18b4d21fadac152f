package dev.gatun.train;

import dev.gatun.pipeline.TensorSpec;

import java.util.List;

/**
 * A model as the engine trains it: built per rank, one pipeline stage (model chunk) at a time, as an ordered list of
 * {@link Layer}s with explicit forward and backward, each layer a ZeRO unit of {@link dev.gatun.tp.Parameter}s with
 * global shapes and indices (a rank holds its tensor-parallel shard), plus the loss on the last stage.
 *
 * <p>The contract, for {@code S} stages ({@code pp·virtualStages}):
 * <ul>
 *   <li>{@link #buildStage} of stage {@code s} on every rank gives layers whose parameters, put together over the tp
 *       ranks by global index, are the same for every layout (initialisation depends on the seed, the parameter's
 *       name and the global index only), so every layout trains the same model;</li>
 *   <li>stage {@code s}'s output is stage {@code s+1}'s input ({@link #stageOutput} equals {@link #stageInput} of
 *       the next), stage 0 takes the batch's inputs, and the last stage's output goes to {@link #loss};</li>
 *   <li>a weight that two stages hold (a tied embedding) appears on each as a layer's
 *       {@link Layer#tiedCopies()}; the engine sums their gradients over those stages.</li>
 * </ul>
 */
public interface Model {
    /** What identifies the model in a checkpoint (its architecture and sizes); a resume must name the same. */
    String id();

    /**
     * Checks that {@code layout} can split this model (e.g. tp divides the heads, no more stages than layers).
     *
     * @throws IllegalArgumentException saying what to change
     */
    void validate(ParallelLayout layout);

    /**
     * Builds the layers of pipeline stage {@code stage} of {@code stages} on this rank, in model order, with
     * {@code ctx}'s backend, allocator, tensor-parallel group and seed. The caller closes them.
     */
    List<Layer> buildStage(int stage, int stages, LayerContext ctx);

    /** What stage {@code stage} takes for a micro-batch of {@code examples} examples on a rank of {@code layout}. */
    TensorSpec stageInput(int stage, int examples, ParallelLayout layout);

    /** What stage {@code stage} gives for a micro-batch of {@code examples} examples on a rank of {@code layout}. */
    TensorSpec stageOutput(int stage, int examples, ParallelLayout layout);

    /** The loss of the last stage's output, built once on each rank that holds the last stage. */
    ModelLoss loss(LayerContext ctx);

    /** Tokens per example, for throughput (a sequence's length for a language model); 1 by default. */
    default long tokensPerExample() {
        return 1;
    }
}
