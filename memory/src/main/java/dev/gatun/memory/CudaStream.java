package dev.gatun.memory;

import dev.gatun.bindings.Cuda;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A CUDA stream on one device (non-blocking with respect to the legacy default stream). Its events are timing
 * events; waiting goes through {@code cudaStreamWaitEvent}, never a host synchronisation.
 */
public final class CudaStream implements DeviceStream {
    private final Device device;
    private final MemorySegment handle;
    private final AtomicBoolean closed = new AtomicBoolean();

    /** Creates a stream on {@code device}, which becomes the calling thread's current device. */
    public CudaStream(Device device) {
        if (!device.isCuda()) {
            throw new IllegalArgumentException("a CudaStream needs a CUDA device, got " + device);
        }
        Cuda.setDevice(device.ordinal());
        this.device = device;
        this.handle = Cuda.streamCreate(true);
    }

    /** The raw {@code cudaStream_t}, for backends that enqueue work (cuBLAS, NCCL, kernels). */
    public MemorySegment handle() {
        checkOpen();
        return handle;
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public DeviceEvent record() {
        checkOpen();
        MemorySegment event = Cuda.eventCreate(true, false);
        boolean ok = false;
        try {
            Cuda.eventRecord(event, handle);
            ok = true;
            return new CudaEvent(event);
        } finally {
            if (!ok) {
                Cuda.eventDestroy(event);
            }
        }
    }

    @Override
    public void waitFor(DeviceEvent event) {
        checkOpen();
        switch (event) {
            case CudaEvent e -> Cuda.streamWaitEvent(handle, e.handle());
            case CpuStream.CpuEvent e -> { } // complete when recorded
            default -> throw new IllegalArgumentException("a CUDA stream cannot wait for " + event);
        }
    }

    @Override
    public void synchronize() {
        checkOpen();
        Cuda.streamSynchronize(handle);
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            Cuda.streamDestroy(handle);
        }
    }

    private void checkOpen() {
        if (closed.get()) {
            throw new IllegalStateException("stream on " + device + " already closed");
        }
    }

    @Override
    public String toString() {
        return "CudaStream[" + device + ", 0x" + Long.toHexString(handle.address()) + "]";
    }

    /** A CUDA event recorded on a stream. */
    static final class CudaEvent implements DeviceEvent {
        private final MemorySegment handle;
        private final AtomicBoolean closed = new AtomicBoolean();

        CudaEvent(MemorySegment handle) {
            this.handle = handle;
        }

        MemorySegment handle() {
            if (closed.get()) {
                throw new IllegalStateException("CUDA event already closed");
            }
            return handle;
        }

        @Override
        public boolean isComplete() {
            return Cuda.eventQuery(handle());
        }

        @Override
        public void synchronize() {
            Cuda.eventSynchronize(handle());
        }

        @Override
        public float elapsedMillisSince(DeviceEvent start) {
            if (!(start instanceof CudaEvent s)) {
                throw new IllegalArgumentException("cannot time a CUDA event against " + start);
            }
            return Cuda.eventElapsedMillis(s.handle(), handle());
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                Cuda.eventDestroy(handle);
            }
        }
    }
}
