package dev.gatun.pipeline;

import dev.gatun.memory.DType;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;

import java.util.Objects;

/**
 * The dtype and shape of a tensor that crosses a stage boundary: what a {@link PipelineExecutor} allocates to receive
 * it, and checks what a stage returns against.
 */
public record TensorSpec(DType dtype, Shape shape) {
    public TensorSpec {
        Objects.requireNonNull(dtype, "dtype must not be null");
        Objects.requireNonNull(shape, "shape must not be null");
    }

    /** Whether {@code t} has this dtype and shape. */
    public boolean matches(Tensor t) {
        return t.dtype() == dtype && t.shape().equals(shape);
    }

    @Override
    public String toString() {
        return dtype.shortName() + shape;
    }
}
