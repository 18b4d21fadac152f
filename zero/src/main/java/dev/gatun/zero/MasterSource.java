package dev.gatun.zero;

import dev.gatun.memory.Tensor;

/**
 * Where mixed precision's fp32 master weights start when the caller holds the parameters in fp32 (given or
 * initialised weights): the master is then those values exactly, not the bf16/fp16 parameters cast back to fp32,
 * which would lose up to half a bf16 step of every weight before training starts.
 */
@FunctionalInterface
public interface MasterSource {
    /**
     * Writes the fp32 values of unit {@code unit}'s padded flat elements {@code [from, from + into.numel())} into
     * {@code into} (zero where the range covers padding).
     */
    void copy(int unit, long from, Tensor into);
}
