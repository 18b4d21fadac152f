package dev.gatun.memory;

/** The CPU's stream: work runs on the calling thread, so events complete when recorded. */
final class CpuStream implements DeviceStream {

    /** An event on the CPU: complete at once; its time is when it was recorded. */
    record CpuEvent(long nanos) implements DeviceEvent {
        @Override
        public boolean isComplete() {
            return true;
        }

        @Override
        public void synchronize() {
        }

        @Override
        public float elapsedMillisSince(DeviceEvent start) {
            if (!(start instanceof CpuEvent s)) {
                throw new IllegalArgumentException("cannot time a CPU event against " + start);
            }
            return (nanos - s.nanos) / 1e6f;
        }

        @Override
        public void close() {
        }
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public DeviceEvent record() {
        return new CpuEvent(System.nanoTime());
    }

    @Override
    public void waitFor(DeviceEvent event) {
        if (!event.isComplete()) {
            throw new IllegalArgumentException("a CPU stream can only wait for completed events, got " + event);
        }
    }

    @Override
    public void synchronize() {
    }

    @Override
    public void close() {
    }
}
