package dev.gatun.memory;

/**
 * The device could not supply memory even after the allocator released every cached segment. The message gives the
 * request, the device's free and total bytes, and the allocator's state by category.
 */
public final class DeviceOutOfMemoryException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final long requestedBytes;

    DeviceOutOfMemoryException(String message, long requestedBytes) {
        super(message);
        this.requestedBytes = requestedBytes;
    }

    /** The bytes the failed allocation asked the device for. */
    public long requestedBytes() {
        return requestedBytes;
    }
}
