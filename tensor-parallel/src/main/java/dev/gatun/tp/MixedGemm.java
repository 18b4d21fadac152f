package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;
import dev.gatun.ops.Backend;
import dev.gatun.ops.Transpose;

/**
 * The GEMMs of a linear layer in its weight's compute precision ({@link Parameter#compute()}), as automatic mixed
 * precision runs them ({@code torch.autocast}): {@code C = op(A)·op(B) + beta·C} with both operands in {@code math}
 * (bf16 or fp16: an operand held in fp32, such as an activation or its gradient, is first rounded into a scratch tensor
 * of that dtype, round-to-nearest-even), fp32 accumulation, and {@code C} fp32. With fp32 math it is the plain GEMM.
 * On CUDA bf16/fp16 operands run on the tensor cores.
 */
public final class MixedGemm {
    private MixedGemm() {
    }

    /** {@code c = op(a)·op(b) + beta·c} with {@code a} and {@code b} in {@code math}; {@code c} fp32. */
    public static void gemm(Backend backend, TensorAllocator allocator, DType math, Tensor a, Transpose opA, Tensor b,
                            Transpose opB, Tensor c, float beta) {
        Tensor la = inMath(backend, allocator, math, a);
        try {
            Tensor lb = inMath(backend, allocator, math, b);
            try {
                backend.gemm(la, opA, lb, opB, c, 1f, beta);
            } finally {
                if (lb != b) {
                    lb.close();
                }
            }
        } finally {
            if (la != a) {
                la.close();
            }
        }
    }

    private static Tensor inMath(Backend backend, TensorAllocator allocator, DType math, Tensor t) {
        if (t.dtype() == math) {
            return t;
        }
        Tensor low = Tensor.allocate(allocator, math, t.shape(), MemoryCategory.WORKSPACE, t.name() + "." + math
                .shortName(), backend.stream());
        boolean ok = false;
        try {
            backend.cast(t, low);
            ok = true;
            return low;
        } finally {
            if (!ok) {
                low.close();
            }
        }
    }
}
