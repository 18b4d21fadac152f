package dev.gatun.pipeline;

import dev.gatun.memory.Tensor;

/**
 * One pipeline stage (model chunk) as a {@link PipelineExecutor} drives it: forward and backward of one micro-batch at a
 * time, in the order the schedule says, with several micro-batches in flight.
 *
 * <p><b>Ownership.</b> A tensor passed in ({@code input}, {@code outputGrad}) belongs to the executor and is valid only
 * during the call: a stage that needs it for the backward keeps a copy. A tensor returned is handed to the executor,
 * which closes it once it has been consumed (passed to the next local stage, sent, or, for stage 0's input gradient,
 * dropped), so it must be a tensor that owns its storage ({@link Tensor#allocate}), never a view.
 */
public interface PipelineStage {
    /** The dtype and shape of this stage's input for micro-batch {@code microBatch} (and of its input gradient). */
    TensorSpec inputSpec(int microBatch);

    /** The dtype and shape of this stage's output for micro-batch {@code microBatch} (and of its output gradient). */
    TensorSpec outputSpec(int microBatch);

    /**
     * Runs the forward of micro-batch {@code microBatch} and keeps what its backward needs until
     * {@link #backward} of the same micro-batch.
     *
     * @return the output, of {@link #outputSpec}; owned by the caller from now on
     */
    Tensor forward(int microBatch, Tensor input);

    /**
     * Runs the backward of micro-batch {@code microBatch}, given the gradient of the loss with respect to its output:
     * adds this micro-batch's parameter gradients to the accumulated ones and drops what {@link #forward} kept.
     *
     * @return the gradient with respect to the input, of {@link #inputSpec}; owned by the caller from now on
     */
    Tensor backward(int microBatch, Tensor outputGrad);

    /**
     * The first half of a split backward (zero-bubble schedules): the gradient with respect to the input, keeping
     * what {@link #backwardWeight} needs; together the two add the same parameter gradients as {@link #backward}.
     * By default a stage does not split its backward.
     *
     * @return the gradient with respect to the input, of {@link #inputSpec}; owned by the caller from now on
     * @throws UnsupportedOperationException when the stage does not split its backward
     */
    default Tensor backwardInput(int microBatch, Tensor outputGrad) {
        throw new UnsupportedOperationException(this + " does not split its backward into input and weight "
                + "gradients, which a zero-bubble schedule needs: run a schedule of whole backwards (1F1B, GPipe, "
                + "interleaved)");
    }

    /**
     * The second half of a split backward: adds micro-batch {@code microBatch}'s parameter gradients, whose
     * {@link #backwardInput} ran, and drops what {@link #forward} kept.
     *
     * @throws UnsupportedOperationException when the stage does not split its backward
     */
    default void backwardWeight(int microBatch) {
        throw new UnsupportedOperationException(this + " does not split its backward into input and weight "
                + "gradients, which a zero-bubble schedule needs: run a schedule of whole backwards (1F1B, GPipe, "
                + "interleaved)");
    }
}
