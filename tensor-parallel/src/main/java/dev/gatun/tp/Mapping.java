package dev.gatun.tp;

import dev.gatun.memory.Tensor;

/**
 * A tensor-parallel communication step with its conjugate: the forward op and the op its backward applies to the
 * gradient (Megatron's autograd functions in {@code mappings.py}, made explicit). Callers allocate outputs; an
 * argument pair may be the same tensor where the op works in place (identity and all-reduce).
 */
public interface Mapping {
    /** The forward op, {@code in → out}. */
    void forward(Tensor in, Tensor out);

    /** The backward op, {@code dout → din}. */
    void backward(Tensor dout, Tensor din);
}
