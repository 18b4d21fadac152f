package dev.gatun.bindings;

import java.lang.foreign.MemorySegment;

/** Argument checks done before any native call, with messages that say what was expected. */
final class Arguments {
    private Arguments() {
    }

    static MemorySegment handle(MemorySegment handle, String what) {
        if (handle == null || handle.equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException(what + " must be a live handle, got " + (handle == null ? "null" : "NULL"));
        }
        return handle;
    }

    static MemorySegment pointer(MemorySegment pointer, String what) {
        if (pointer == null) {
            throw new IllegalArgumentException(what + " must not be null (use MemorySegment.NULL for a null pointer)");
        }
        return pointer;
    }

    /** A stream argument: {@code MemorySegment.NULL} is the legacy default stream. */
    static MemorySegment stream(MemorySegment stream) {
        return pointer(stream, "stream");
    }

    /** A host buffer the native side reads or writes {@code bytes} of. */
    static MemorySegment hostBuffer(MemorySegment buffer, long bytes, String what) {
        pointer(buffer, what);
        if (!buffer.isNative()) {
            throw new IllegalArgumentException(what + " must be off-heap (a native MemorySegment), got a heap segment");
        }
        if (buffer.byteSize() < bytes) {
            throw new IllegalArgumentException(what + " holds " + buffer.byteSize() + " bytes, " + bytes + " needed");
        }
        return buffer;
    }

    static long nonNegative(long value, String what) {
        if (value < 0) {
            throw new IllegalArgumentException(what + " must be >= 0, got " + value);
        }
        return value;
    }

    static long positive(long value, String what) {
        if (value <= 0) {
            throw new IllegalArgumentException(what + " must be > 0, got " + value);
        }
        return value;
    }

    static int intRange(long value, String what) {
        if (value < 0 || value > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(what + " must be in [0, " + Integer.MAX_VALUE + "], got " + value);
        }
        return (int) value;
    }
}
