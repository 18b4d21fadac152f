package dev.gatun.tp;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.LongUnaryOperator;

/**
 * One fp32 parameter shard and its gradient (same shape, accumulated by backward passes). A layer reads
 * {@link #value()} and {@link #grad()} at every call, so the two can be {@linkplain #bind rebound} to storage owned
 * elsewhere (e.g. views into a ZeRO flat buffer that is gathered and released around each use) without the layer
 * knowing.
 */
public final class Parameter implements AutoCloseable {
    private final String name;
    private final Shape shape;
    private final Shape globalShape;
    private final LongUnaryOperator globalIndex;
    private Tensor value;
    private Tensor grad;
    private Tensor compute;
    private boolean ownsValue = true;
    private boolean ownsGrad = true;

    private Parameter(String name, Tensor value, Tensor grad, Shape globalShape, LongUnaryOperator globalIndex) {
        this.name = name;
        this.shape = value.shape();
        this.globalShape = globalShape;
        this.globalIndex = globalIndex;
        this.value = value;
        this.grad = grad;
    }

    /**
     * A shard of {@code shape} of the full parameter of {@code globalShape}, initialised by {@link ParameterInit#fill}
     * with {@code std} ({@code 0} gives zeros) and {@code globalIndex} mapping the shard's flat index into the full
     * parameter's; its gradient is zeroed.
     */
    public static Parameter gaussian(TensorAllocator allocator, DeviceStream stream, String name, Shape shape,
                                     Shape globalShape, long seed, double std, LongUnaryOperator globalIndex) {
        if (globalShape.numel() < shape.numel()) {
            throw new IllegalArgumentException("parameter '" + name + "': shard " + shape + " is larger than the "
                    + "full parameter " + globalShape);
        }
        return create(allocator, stream, name, shape, globalShape, globalIndex, value -> {
            if (std == 0) {
                value.fill(0, stream);
            } else {
                ParameterInit.fill(value, seed, name, std, globalIndex, stream);
            }
        });
    }

    /**
     * A parameter held whole (replicated) with every element {@code constant} (e.g. a LayerNorm gain of 1); its
     * gradient is zeroed.
     */
    public static Parameter constant(TensorAllocator allocator, DeviceStream stream, String name, Shape shape,
                                     float constant) {
        return create(allocator, stream, name, shape, shape, i -> i, value -> value.fill(constant, stream));
    }

    private static Parameter create(TensorAllocator allocator, DeviceStream stream, String name, Shape shape,
                                    Shape globalShape, LongUnaryOperator globalIndex, Consumer<Tensor> init) {
        Objects.requireNonNull(name, "name must not be null");
        Tensor value = Tensor.allocate(allocator, DType.FP32, shape, MemoryCategory.PARAMETERS, name, stream);
        boolean ok = false;
        try {
            init.accept(value);
            Tensor grad = Tensor.zeros(allocator, DType.FP32, shape, MemoryCategory.GRADIENTS, name + ".grad",
                    stream);
            ok = true;
            return new Parameter(name, value, grad, globalShape, globalIndex);
        } finally {
            if (!ok) {
                value.close();
            }
        }
    }

    /** The full parameter's name, e.g. {@code "h0.mlp.fc.weight"}; it seeds {@link ParameterInit}. */
    public String name() {
        return name;
    }

    /** The shard's shape. */
    public Shape shape() {
        return shape;
    }

    /** The shape of the full (unsharded) parameter. */
    public Shape globalShape() {
        return globalShape;
    }

    /**
     * The flat row-major index in the full parameter of this shard's element {@code i}: how a checkpoint or an export
     * puts shards back together, whatever the tensor-parallel layout.
     */
    public long globalIndex(long i) {
        return globalIndex.applyAsLong(i);
    }

    /**
     * This rank's shard of the values, in fp32.
     *
     * @throws IllegalStateException after {@link #dropValue()}
     */
    public Tensor value() {
        if (value == null) {
            throw new IllegalStateException("parameter '" + name + "' keeps no fp32 values: under mixed precision "
                    + "only its GEMMs read it, through compute()");
        }
        return value;
    }

    /**
     * The values as the layer's GEMMs read them ({@link MixedGemm}): a bf16/fp16 copy that a mixed-precision owner
     * {@linkplain #bindCompute bound}, else {@link #value()}.
     */
    public Tensor compute() {
        return compute != null ? compute : value();
    }

    /**
     * Frees the fp32 values of a parameter that only GEMMs read, through a {@linkplain #bindCompute compute view}
     * bound before each use (mixed precision): 4 bytes per element. {@link #value()} fails afterwards.
     */
    public void dropValue() {
        if (value != null && ownsValue) {
            value.close();
        }
        value = null;
        ownsValue = false;
    }

    /**
     * Makes {@link #compute()} return {@code lowPrecision} (bf16, fp16 or fp32, of {@link #shape()}; the caller's:
     * never freed here), or {@link #value()} again when null. Under mixed precision the optimizer's parameter buffer
     * holds the weights in bf16/fp16; binding views of it lets the GEMMs read them without a copy.
     *
     * @throws IllegalArgumentException when the tensor is of another shape or an integer dtype
     */
    public void bindCompute(Tensor lowPrecision) {
        if (lowPrecision != null && (!lowPrecision.dtype().isFloatingPoint()
                || !lowPrecision.shape().equals(shape))) {
            throw new IllegalArgumentException("parameter '" + name + "' needs a floating-point compute copy of shape "
                    + shape + ", got '" + lowPrecision.name() + "' " + lowPrecision.dtype().shortName() + " "
                    + lowPrecision.shape());
        }
        compute = lowPrecision;
    }

    /** The gradient of the shard. */
    public Tensor grad() {
        return grad;
    }

    /**
     * Points the parameter at {@code newValue} and {@code newGrad} (fp32, of {@link #shape()}; either may be the
     * current tensor). Tensors the parameter allocated itself are freed when replaced; bound ones stay their owner's.
     *
     * @throws IllegalArgumentException when a tensor is not fp32 of the parameter's shape
     */
    public void bind(Tensor newValue, Tensor newGrad) {
        if (value == null) {
            throw new IllegalStateException("parameter '" + name + "' dropped its fp32 values; it cannot be rebound");
        }
        check("value", newValue);
        check("gradient", newGrad);
        if (newValue != value) {
            if (ownsValue) {
                value.close();
            }
            value = newValue;
            ownsValue = false;
        }
        if (newGrad != grad) {
            if (ownsGrad) {
                grad.close();
            }
            grad = newGrad;
            ownsGrad = false;
        }
    }

    private void check(String what, Tensor t) {
        Objects.requireNonNull(t, what + " must not be null");
        if (t.dtype() != DType.FP32 || !t.shape().equals(shape)) {
            throw new IllegalArgumentException("parameter '" + name + "' needs an fp32 " + what + " of shape "
                    + shape + ", got '" + t.name() + "' " + t.dtype().shortName() + " " + t.shape());
        }
    }

    /** Frees the tensors this parameter allocated itself. */
    @Override
    public void close() {
        if (ownsGrad && grad.isLive()) {
            grad.close();
        }
        if (ownsValue && value != null && value.isLive()) {
            value.close();
        }
    }

    @Override
    public String toString() {
        return "Parameter{" + name + " " + shape + "}";
    }
}
