package dev.gatun.train;

import dev.gatun.memory.Tensor;
import dev.gatun.tp.Parameter;

import java.util.List;
import java.util.Set;

/**
 * One layer of a {@link Model} as a pipeline stage and the ZeRO optimizer see it: a unit of parameters with an
 * explicit forward and backward per micro-batch (DESIGN property 8). A layer keeps what its backward needs, including
 * its input by reference, until the backward of the same micro-batch. For input {@code x} and output {@code y},
 * {@code backward(dL/dy)} adds {@code dL/dθ} to each parameter's gradient (accumulating over micro-batches) and
 * returns {@code dL/dx}.
 */
public interface Layer extends AutoCloseable {
    /** The layer's name, e.g. {@code "h3"}; its parameters' names start with it. */
    String name();

    /** The parameters this layer owns (its ZeRO unit), in a fixed order. */
    List<Parameter> parameters();

    /** Parameters of other layers this one reads (the tied head reads the token embedding); usually none. */
    default List<Parameter> borrowed() {
        return List.of();
    }

    /**
     * Owned parameters that are a copy of one weight another pipeline stage holds too (a word embedding tied to the
     * output head across stages): after the step's last backward the engine sums their gradients over the stages
     * that hold a copy, so the copies stay equal. Empty by default.
     */
    default List<Parameter> tiedCopies() {
        return List.of();
    }

    /**
     * Names among {@link #tiedCopies()} that the gradient norm leaves out, because another stage's copy of the same
     * weight is counted (the head's copy of the embedding). Empty by default.
     */
    default Set<String> tiedDuplicates() {
        return Set.of();
    }

    /** Names of owned parameters every tp rank holds whole (LayerNorms, row-parallel biases, position embedding). */
    Set<String> tpReplicated();

    /**
     * Names of owned parameters that only GEMMs read, through {@link Parameter#compute()} (the linear layers'
     * weights): under mixed precision they keep no fp32 copy, the GEMMs reading the optimizer's bf16/fp16 buffer.
     */
    default Set<String> computeOnly() {
        return Set.of();
    }

    /** Runs the forward of {@code microBatch}; returns a new tensor the caller owns. */
    Tensor forward(int microBatch, Tensor input);

    /**
     * Runs the backward of {@code microBatch}: accumulates the parameter gradients and returns the input gradient (a new
     * tensor the caller owns), or null when the input has none (the first layer, whose input is data).
     */
    Tensor backward(int microBatch, Tensor outputGrad);

    /**
     * The first half of a split backward (zero-bubble schedules): returns {@code dL/dx} as {@link #backward} does and
     * keeps what {@link #backwardWeight} needs to add {@code dL/dθ}; together the two add the same gradients as
     * {@link #backward}, bit for bit. {@code outputGrad} is the caller's and live only during the call: a layer that
     * needs it for its weight half keeps a copy. The layer's input stays live (the stage keeps it) until
     * {@link #backwardWeight} of the micro-batch. By default the whole backward runs here and the weight half does
     * nothing: a layer that does not split still runs under a zero-bubble schedule, without filling its bubble.
     */
    default Tensor backwardInput(int microBatch, Tensor outputGrad) {
        return backward(microBatch, outputGrad);
    }

    /**
     * The second half of a split backward: adds micro-batch {@code microBatch}'s parameter gradients from what
     * {@link #backwardInput} kept, and drops it. By default nothing (the default {@link #backwardInput} did it all).
     */
    default void backwardWeight(int microBatch) {
    }

    /** Frees the parameters and anything still saved. */
    @Override
    void close();
}
