package dev.gatun.zero;

import dev.gatun.memory.DType;
import dev.gatun.memory.DeviceStream;
import dev.gatun.memory.MemoryCategory;
import dev.gatun.memory.Shape;
import dev.gatun.memory.Tensor;
import dev.gatun.memory.TensorAllocator;

import java.util.Objects;

/**
 * The flat buffers of a {@link FlatLayout} in one dtype: one per unit, {@code unit.paddedNumel()} elements, each
 * parameter (or its gradient) a view. A unit's buffer can be released and materialized again (ZeRO-3 keeps only a
 * shard between uses; ZeRO-2 frees gradients once reduce-scattered); a new materialization is zero-filled. Views
 * taken before a release must not be used after it.
 */
public final class FlatBuffer implements AutoCloseable {
    private final FlatLayout layout;
    private final DType dtype;
    private final MemoryCategory category;
    private final String name;
    private final TensorAllocator allocator;
    private final DeviceStream stream;
    private final Tensor[] buffers;

    /** Allocates every unit's buffer at once, zero-filled. */
    public FlatBuffer(FlatLayout layout, DType dtype, MemoryCategory category, String name, TensorAllocator allocator,
                      DeviceStream stream) {
        this.layout = Objects.requireNonNull(layout, "layout must not be null");
        this.dtype = Objects.requireNonNull(dtype, "dtype must not be null");
        this.category = Objects.requireNonNull(category, "category must not be null");
        this.name = Objects.requireNonNull(name, "name must not be null");
        this.allocator = Objects.requireNonNull(allocator, "allocator must not be null");
        this.stream = Objects.requireNonNull(stream, "stream must not be null");
        this.buffers = new Tensor[layout.units().size()];
        materialize();
    }

    public FlatLayout layout() {
        return layout;
    }

    public DType dtype() {
        return dtype;
    }

    public boolean isMaterialized(int unit) {
        return buffers[unit] != null;
    }

    /** Allocates unit {@code unit}'s buffer (zero-filled) if released; does nothing if it is there. */
    public void materialize(int unit) {
        if (buffers[unit] == null) {
            FlatLayout.Unit u = layout.units().get(unit);
            buffers[unit] = Tensor.zeros(allocator, dtype, Shape.of(u.paddedNumel()), category,
                    name + "." + u.name(), stream);
        }
    }

    /** Materializes every unit. */
    public void materialize() {
        for (int u = 0; u < buffers.length; u++) {
            materialize(u);
        }
    }

    /** Frees unit {@code unit}'s buffer; {@link #materialize(int)} brings it back. */
    public void release(int unit) {
        if (buffers[unit] != null) {
            buffers[unit].close();
            buffers[unit] = null;
        }
    }

    /** Frees every unit's buffer. */
    public void release() {
        for (int u = 0; u < buffers.length; u++) {
            release(u);
        }
    }

    /** Unit {@code unit}'s whole padded buffer. */
    public Tensor unit(int unit) {
        Tensor t = buffers[unit];
        if (t == null) {
            throw new IllegalStateException("unit '" + layout.units().get(unit).name() + "' of flat buffer '" + name
                    + "' is released: materialize it (ZeRO-3 parameters: ZeroOptimizer.gatherParameters) before use");
        }
        return t;
    }

    /** The single unit's buffer, for a one-unit layout. */
    public Tensor buffer() {
        if (buffers.length != 1) {
            throw new IllegalStateException("flat buffer '" + name + "' has " + buffers.length
                    + " units: use unit(i)");
        }
        return unit(0);
    }

    /** The parameter {@code parameter}'s view, in its shape. */
    public Tensor view(String parameter) {
        FlatLayout.Entry e = layout.entry(parameter);
        return unit(e.unit()).flat(e.offset(), e.numel()).reshape(e.shape().dims());
    }

    /** The elements {@code shard} of unit {@code unit}. */
    public Tensor view(int unit, Shard shard) {
        return unit(unit).flat(shard.offset(), shard.size());
    }

    @Override
    public void close() {
        release();
    }

    @Override
    public String toString() {
        StringBuilder live = new StringBuilder();
        for (Tensor b : buffers) {
            live.append(b == null ? '-' : '+');
        }
        return "FlatBuffer{" + name + ", " + dtype.shortName() + "[" + layout.paddedNumel() + "], " + category.label()
                + ", units " + live + "}";
    }
}
