package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.function.LongUnaryOperator;

/**
 * One fp32 parameter shard and its gradient (same shape, zeroed at creation, accumulated by backward passes).
 *
 * @param name  the full parameter's name, e.g. {@code "h0.mlp.fc.weight"}; it seeds {@link ParameterInit}
 * @param value this rank's shard of the values
 * @param grad  the gradient of the shard
 */
public record Parameter(String name, Tensor value, Tensor grad) implements AutoCloseable {
    /**
     * A parameter shard of {@code shape} initialised by {@link ParameterInit#fill} with {@code std} ({@code 0} gives
     * zeros) and {@code globalIndex} mapping the shard's flat index into the full parameter.
     */
    static Parameter create(TensorAllocator allocator, DeviceStream stream, String name, Shape shape, long seed,
                            double std, LongUnaryOperator globalIndex) {
        Tensor value = Tensor.allocate(allocator, DType.FP32, shape, MemoryCategory.PARAMETERS, name, stream);
        boolean ok = false;
        try {
            if (std == 0) {
                value.fill(0, stream);
            } else {
                ParameterInit.fill(value, seed, name, std, globalIndex, stream);
            }
            Tensor grad = Tensor.allocate(allocator, DType.FP32, shape, MemoryCategory.GRADIENTS, name + ".grad",
                    stream);
            grad.fill(0, stream);
            ok = true;
            return new Parameter(name, value, grad);
        } finally {
            if (!ok) {
                value.close();
            }
        }
    }

    @Override
    public void close() {
        grad.close();
        value.close();
    }
}
