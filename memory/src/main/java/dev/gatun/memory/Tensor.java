package dev.gatun.memory;

import dev.gatun.bindings.Cuda;
import dev.gatun.bindings.CudaDriver;
import dev.gatun.bindings.MemcpyKind;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A dense, contiguous, row-major array of one {@link DType} in a {@link Storage} on a {@link Device}: the storage, a
 * byte offset into it, and a {@link Shape}. Element {@code (i0, …, i(r-1))} of a tensor with dimensions
 * {@code (d0, …, d(r-1))} is at byte {@code offset + (((i0·d1 + i1)·d2 + …)·d(r-1) + i(r-1)) · dtype.byteSize()}.
 *
 * <p>Tensors are thin: they hold no math (that is the {@code ops} backends' work). A tensor from
 * {@link #allocate} owns its storage and frees it on {@link #close()}; {@linkplain #slice slices},
 * {@linkplain #flat flat ranges} and {@linkplain #reshape reshapes} are views on the same memory that own nothing.
 * Any use of a tensor whose storage has been freed throws {@link IllegalStateException} ("… already freed"); the
 * memory of a CUDA tensor is never touched by the host, only by copies and fills enqueued on a {@link CudaStream}.
 *
 * <p>Copies and fills are ordered on the stream given. Device work is asynchronous: read results on the host only
 * after the stream is synchronised ({@link #toFloatArray} and friends do that themselves).
 */
public final class Tensor implements AutoCloseable {
    private final Storage storage;
    private final DType dtype;
    private final Shape shape;
    private final long byteOffset;
    private final boolean ownsStorage;

    private Tensor(Storage storage, DType dtype, Shape shape, long byteOffset, boolean ownsStorage) {
        this.storage = storage;
        this.dtype = dtype;
        this.shape = shape;
        this.byteOffset = byteOffset;
        this.ownsStorage = ownsStorage;
    }

    /**
     * A new tensor with its own storage from {@code allocator}, for use on {@code stream}. Host memory is
     * zero-filled; device memory is not initialised ({@link #fill} it). A tensor with no elements still takes one
     * element's bytes, so that it has an address.
     *
     * @param name who holds it, e.g. {@code "layer0.mlp.fc.weight"}: the storage's owner in reports and leak errors
     */
    public static Tensor allocate(TensorAllocator allocator, DType dtype, Shape shape, MemoryCategory category,
                                  String name, DeviceStream stream) {
        Objects.requireNonNull(allocator, "allocator must not be null");
        Objects.requireNonNull(dtype, "dtype must not be null");
        Objects.requireNonNull(shape, "shape must not be null");
        long bytes;
        try {
            bytes = Math.multiplyExact(Math.max(1, shape.numel()), dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("tensor '" + name + "' " + dtype.shortName() + shape
                    + " needs more than 2^63 bytes", e);
        }
        return new Tensor(allocator.allocate(category, name, bytes, stream), dtype, shape, 0, true);
    }

    /**
     * {@link #allocate} and zero every element: on a CUDA device with a memset on {@code stream}; host memory is
     * zero-filled already and is not written again, so its pages stay untouched until their first real use.
     */
    public static Tensor zeros(TensorAllocator allocator, DType dtype, Shape shape, MemoryCategory category,
                               String name, DeviceStream stream) {
        Tensor t = allocate(allocator, dtype, shape, category, name, stream);
        if (t.device().isCuda()) {
            try {
                t.fill(0, stream);
            } catch (RuntimeException e) {
                t.close();
                throw e;
            }
        }
        return t;
    }

    /**
     * A view of {@code storage} as a {@code dtype} tensor of {@code shape} starting {@code byteOffset} bytes in; it
     * does not own the storage.
     *
     * @throws IllegalArgumentException when the offset is not a multiple of the element size or the tensor does not
     *                                  fit in the storage
     */
    public static Tensor view(Storage storage, DType dtype, Shape shape, long byteOffset) {
        Objects.requireNonNull(storage, "storage must not be null");
        Objects.requireNonNull(dtype, "dtype must not be null");
        Objects.requireNonNull(shape, "shape must not be null");
        if (byteOffset < 0 || byteOffset % dtype.byteSize() != 0) {
            throw new IllegalArgumentException("byte offset " + byteOffset + " must be >= 0 and a multiple of "
                    + dtype.byteSize() + " (" + dtype.shortName() + ")");
        }
        long bytes = shape.numel() * dtype.byteSize();
        if (bytes > storage.byteSize() - byteOffset) {
            throw new IllegalArgumentException(dtype.shortName() + shape + " (" + bytes + " bytes) at byte offset "
                    + byteOffset + " does not fit in '" + storage.owner() + "' of " + storage.byteSize() + " bytes");
        }
        return new Tensor(storage, dtype, shape, byteOffset, false);
    }

    /** The storage the tensor lives in (shared with its views). */
    public Storage storage() {
        return storage;
    }

    /** The element type. */
    public DType dtype() {
        return dtype;
    }

    /** The dimensions. */
    public Shape shape() {
        return shape;
    }

    /** The number of elements. */
    public long numel() {
        return shape.numel();
    }

    /** The bytes the elements take: {@code numel · dtype.byteSize()}. */
    public long byteSize() {
        return shape.numel() * dtype.byteSize();
    }

    /** Where the first element is, in bytes from the start of the storage. */
    public long byteOffset() {
        return byteOffset;
    }

    /** The device the memory is on. */
    public Device device() {
        return storage.device();
    }

    /** The storage's owner name. */
    public String name() {
        return storage.owner();
    }

    /** Whether this is a view (it does not own its storage). */
    public boolean isView() {
        return !ownsStorage;
    }

    /** Whether the storage is still allocated. */
    public boolean isLive() {
        return !storage.isFreed();
    }

    /**
     * The elements as host memory ({@code byteSize()} bytes), for CPU backends.
     *
     * @throws IllegalStateException when the tensor is on a CUDA device (its memory is not host-addressable) or freed
     */
    public MemorySegment hostSegment() {
        if (!(storage instanceof HostBuffer host)) {
            throw new IllegalStateException("tensor '" + name() + "' is on " + device()
                    + ": its memory cannot be read on the host; copy it to a CPU tensor first");
        }
        return host.segment().asSlice(byteOffset, byteSize());
    }

    /**
     * The device address of the first element, for CUDA backends (cuBLAS, NCCL, kernels). Never dereference it on
     * the host.
     *
     * @throws IllegalStateException when the tensor is in host memory or freed
     */
    public long deviceAddress() {
        if (!(storage instanceof DeviceBuffer device)) {
            throw new IllegalStateException("tensor '" + name() + "' is in host memory, not on a device");
        }
        return device.address() + byteOffset;
    }

    /** Rows {@code [start, end)} of the outermost dimension, as a view. */
    public Tensor slice(long start, long end) {
        checkLive();
        if (shape.rank() == 0) {
            throw new IllegalArgumentException("cannot slice the scalar tensor '" + name() + "'");
        }
        if (start < 0 || start > end || end > shape.dim(0)) {
            throw new IndexOutOfBoundsException("slice [" + start + ", " + end + ") is outside dimension 0 of '"
                    + name() + "' " + shape + " (size " + shape.dim(0) + ")");
        }
        long offset = byteOffset + start * shape.outerStride() * dtype.byteSize();
        return new Tensor(storage, dtype, shape.withOuter(end - start), offset, false);
    }

    /** Elements {@code [offset, offset + length)} in row-major order, as a 1-D view (a shard of a flat buffer). */
    public Tensor flat(long offset, long length) {
        checkLive();
        if (offset < 0 || length < 0 || offset > numel() - length) {
            throw new IndexOutOfBoundsException("flat range [" + offset + ", " + (offset + length) + ") is outside '"
                    + name() + "' of " + numel() + " elements");
        }
        return new Tensor(storage, dtype, Shape.of(length), byteOffset + offset * dtype.byteSize(), false);
    }

    /**
     * The same elements with other dimensions, as a view; one dimension may be {@code -1}, meaning whatever the
     * element count leaves for it.
     */
    public Tensor reshape(long... dims) {
        checkLive();
        long[] d = dims.clone();
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < d.length; i++) {
            if (d[i] == -1 && inferred < 0) {
                inferred = i;
            } else if (d[i] < 0) {
                throw new IllegalArgumentException("cannot reshape '" + name() + "' to " + Arrays.toString(dims)
                        + ": dimensions must be >= 0, with at most one -1");
            } else {
                known *= d[i];
            }
        }
        if (inferred >= 0) {
            d[inferred] = known != 0 && numel() % known == 0 ? numel() / known : -1;
        }
        if ((inferred >= 0 && d[inferred] < 0) || (inferred < 0 && known != numel())) {
            throw new IllegalArgumentException("cannot reshape '" + name() + "' " + shape + " (" + numel()
                    + " elements) to " + Arrays.toString(dims));
        }
        Shape target = Shape.of(d);
        return new Tensor(storage, dtype, target, byteOffset, false);
    }

    /**
     * Copies {@code src} into this tensor, ordered on {@code stream}: host↔host directly, otherwise with
     * {@code cudaMemcpyAsync} of the matching kind on {@code stream}, which must be a {@link CudaStream} on the CUDA
     * device involved. Device buffers used by a stream other than their own are recorded on it, so their cached
     * memory is not reused before the copy is done.
     *
     * @throws IllegalArgumentException when dtypes or shapes differ, or the stream does not fit the devices
     */
    public void copyFrom(Tensor src, DeviceStream stream) {
        Objects.requireNonNull(src, "source tensor must not be null");
        Objects.requireNonNull(stream, "stream must not be null");
        if (src.dtype != dtype || !src.shape.equals(shape)) {
            throw new IllegalArgumentException("cannot copy '" + src.name() + "' " + src.dtype.shortName() + src.shape
                    + " into '" + name() + "' " + dtype.shortName() + shape + ": dtype and shape must match");
        }
        checkLive();
        src.checkLive();
        if (!device().isCuda() && !src.device().isCuda()) {
            MemorySegment.copy(src.hostSegment(), 0, hostSegment(), 0, byteSize());
            return;
        }
        CudaStream cuda = cudaStream(stream, device().isCuda() ? device() : src.device());
        if (device().isCuda() && src.device().isCuda()) {
            MemcpyKind kind = device().equals(src.device()) ? MemcpyKind.DEVICE_TO_DEVICE : MemcpyKind.DEFAULT;
            Cuda.memcpyAsync(pointer(), src.pointer(), byteSize(), kind, cuda.handle());
        } else if (device().isCuda()) {
            Cuda.memcpyAsync(pointer(), src.hostSegment(), byteSize(), MemcpyKind.HOST_TO_DEVICE, cuda.handle());
        } else {
            Cuda.memcpyAsync(hostSegment(), src.pointer(), byteSize(), MemcpyKind.DEVICE_TO_HOST, cuda.handle());
        }
        recordUse(stream);
        src.recordUse(stream);
    }

    /**
     * Sets every element to {@code value} (rounded to nearest even for bf16/fp16), ordered on {@code stream}: on the
     * host directly, on a CUDA device with {@code cuMemsetD32Async}/{@code cuMemsetD16Async} of the element's bit
     * pattern.
     *
     * @throws IllegalArgumentException for an integer dtype when {@code value} is not an integer it can hold
     */
    public void fill(double value, DeviceStream stream) {
        Objects.requireNonNull(stream, "stream must not be null");
        checkLive();
        long bits = ElementCodec.bits(dtype, value);
        if (numel() == 0) {
            return;
        }
        if (!device().isCuda()) {
            ElementCodec.fillHost(hostSegment(), dtype, bits);
            return;
        }
        MemorySegment handle = cudaStream(stream, device()).handle();
        long address = deviceAddress();
        switch (dtype.byteSize()) {
            case 2 -> CudaDriver.memsetD16Async(address, (short) bits, numel(), handle);
            case 4 -> CudaDriver.memsetD32Async(address, (int) bits, numel(), handle);
            default -> {
                CudaDriver.memsetStrided32Async(address, 8, (int) bits, numel(), handle);
                CudaDriver.memsetStrided32Async(address + 4, 8, (int) (bits >>> 32), numel(), handle);
            }
        }
        recordUse(stream);
    }

    /**
     * Writes {@code values} (row-major, {@link #numel()} of them) into this floating-point tensor, converting to its
     * dtype; on a device the copy is staged through host memory on {@code stream}.
     */
    public void copyFrom(float[] values, DeviceStream stream) {
        requireLength(values.length, true);
        upload(host -> ElementCodec.encode(values, dtype, host), stream);
    }

    /** Writes {@code values} (row-major) into this int32 tensor. */
    public void copyFrom(int[] values, DeviceStream stream) {
        requireType(DType.INT32);
        requireLength(values.length, false);
        upload(host -> MemorySegment.copy(values, 0, host, ValueLayout.JAVA_INT, 0, values.length), stream);
    }

    /** Writes {@code values} (row-major) into this int64 tensor. */
    public void copyFrom(long[] values, DeviceStream stream) {
        requireType(DType.INT64);
        requireLength(values.length, false);
        upload(host -> MemorySegment.copy(values, 0, host, ValueLayout.JAVA_LONG, 0, values.length), stream);
    }

    /** The elements of this floating-point tensor as floats, after the work on {@code stream} so far is done. */
    public float[] toFloatArray(DeviceStream stream) {
        requireLength(numel(), true);
        float[] out = new float[(int) numel()];
        download(host -> ElementCodec.decode(host, dtype, out), stream);
        return out;
    }

    /** The elements of this int32 tensor, after the work on {@code stream} so far is done. */
    public int[] toIntArray(DeviceStream stream) {
        requireType(DType.INT32);
        requireLength(numel(), false);
        int[] out = new int[(int) numel()];
        download(host -> MemorySegment.copy(host, ValueLayout.JAVA_INT, 0, out, 0, out.length), stream);
        return out;
    }

    /** The elements of this int64 tensor, after the work on {@code stream} so far is done. */
    public long[] toLongArray(DeviceStream stream) {
        requireType(DType.INT64);
        requireLength(numel(), false);
        long[] out = new long[(int) numel()];
        download(host -> MemorySegment.copy(host, ValueLayout.JAVA_LONG, 0, out, 0, out.length), stream);
        return out;
    }

    /**
     * Frees the storage of a tensor from {@link #allocate}.
     *
     * @throws IllegalStateException for a view (close the tensor it came from) or when already freed
     */
    @Override
    public void close() {
        if (!ownsStorage) {
            throw new IllegalStateException("tensor is a view of '" + name()
                    + "' and owns no memory: close the tensor that allocated it");
        }
        storage.close();
    }

    @Override
    public String toString() {
        return "Tensor['" + name() + "' " + dtype.shortName() + shape + " on " + device()
                + (byteOffset != 0 ? " at byte " + byteOffset : "") + (isLive() ? "" : ", freed") + "]";
    }

    private void upload(Consumer<MemorySegment> writer, DeviceStream stream) {
        Objects.requireNonNull(stream, "stream must not be null");
        checkLive();
        if (!device().isCuda()) {
            writer.accept(hostSegment());
            return;
        }
        MemorySegment handle = cudaStream(stream, device()).handle();
        try (Arena staging = Arena.ofConfined()) {
            MemorySegment host = staging.allocate(Math.max(1, byteSize()), 64);
            writer.accept(host);
            // From pageable memory the call returns once the source is staged, so freeing it next is safe.
            Cuda.memcpyAsync(pointer(), host, byteSize(), MemcpyKind.HOST_TO_DEVICE, handle);
        }
        recordUse(stream);
    }

    private void download(Consumer<MemorySegment> reader, DeviceStream stream) {
        Objects.requireNonNull(stream, "stream must not be null");
        checkLive();
        if (!device().isCuda()) {
            reader.accept(hostSegment());
            return;
        }
        MemorySegment handle = cudaStream(stream, device()).handle();
        try (Arena staging = Arena.ofConfined()) {
            MemorySegment host = staging.allocate(Math.max(1, byteSize()), 64);
            Cuda.memcpyAsync(host, pointer(), byteSize(), MemcpyKind.DEVICE_TO_HOST, handle);
            stream.synchronize();
            reader.accept(host);
        }
    }

    private MemorySegment pointer() {
        return MemorySegment.ofAddress(deviceAddress());
    }

    private void recordUse(DeviceStream stream) {
        if (storage instanceof DeviceBuffer buffer && buffer.stream() != stream) {
            buffer.recordStream(stream);
        }
    }

    private CudaStream cudaStream(DeviceStream stream, Device device) {
        if (!(stream instanceof CudaStream cuda) || !stream.device().equals(device)) {
            throw new IllegalArgumentException("work on '" + name() + "' (" + device + ") needs a CUDA stream on "
                    + device + ", got " + stream);
        }
        return cuda;
    }

    private void checkLive() {
        if (storage.isFreed()) {
            throw new IllegalStateException("tensor '" + name() + "' used after free: buffer already freed");
        }
    }

    private void requireType(DType expected) {
        if (dtype != expected) {
            throw new IllegalArgumentException("tensor '" + name() + "' is " + dtype.shortName() + ", not "
                    + expected.shortName());
        }
    }

    private void requireLength(long length, boolean floating) {
        if (floating && !dtype.isFloatingPoint()) {
            throw new IllegalArgumentException("tensor '" + name() + "' is " + dtype.shortName()
                    + ": float values need fp32, bf16 or fp16");
        }
        if (numel() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor '" + name() + "' has " + numel()
                    + " elements, more than a Java array holds");
        }
        if (length != numel()) {
            throw new IllegalArgumentException("tensor '" + name() + "' " + shape + " has " + numel()
                    + " elements, got " + length + " values");
        }
    }
}
