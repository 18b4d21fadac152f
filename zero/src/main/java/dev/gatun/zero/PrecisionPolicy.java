package dev.gatun.zero;

import dev.gatun.memory.DType;

import java.util.Objects;

/**
 * The dtypes of a training step: parameters (and their gradients, which are reduced in the same dtype) in
 * {@code paramDtype}; the optimizer updates fp32 master weights when {@code fp32Master}; gradients are multiplied by
 * a dynamic loss scale in the backward when {@code lossScaling} (fp16, whose range is narrow).
 */
public record PrecisionPolicy(String name, DType paramDtype, boolean fp32Master, boolean lossScaling) {
    /** Everything fp32; the parameters are the optimizer's weights. */
    public static final PrecisionPolicy FP32 = new PrecisionPolicy("fp32", DType.FP32, false, false);
    /** bf16 parameters and gradients, fp32 master weights. */
    public static final PrecisionPolicy BF16_MIXED = new PrecisionPolicy("bf16-mixed", DType.BF16, true, false);
    /** fp16 parameters and gradients, fp32 master weights, dynamic loss scaling. */
    public static final PrecisionPolicy FP16_MIXED = new PrecisionPolicy("fp16-mixed", DType.FP16, true, true);

    public PrecisionPolicy {
        Objects.requireNonNull(name, "name must not be null");
        Objects.requireNonNull(paramDtype, "paramDtype must not be null");
        if (!paramDtype.isFloatingPoint()) {
            throw new IllegalArgumentException("paramDtype must be floating point, got " + paramDtype.shortName());
        }
        if (paramDtype == DType.FP32 && fp32Master) {
            throw new IllegalArgumentException("fp32 parameters need no fp32 master copy: set fp32Master=false");
        }
        if (paramDtype != DType.FP32 && !fp32Master) {
            throw new IllegalArgumentException(paramDtype.shortName()
                    + " parameters need fp32 master weights (AdamW on 16-bit weights loses small updates)");
        }
    }

    /** Adam moments (8 bytes) plus fp32 master weights (4) when kept. */
    public long optimizerStateBytesPerParameter() {
        return fp32Master ? 12 : 8;
    }
}
