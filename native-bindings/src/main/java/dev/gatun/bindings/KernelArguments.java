package dev.gatun.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Builds the {@code void** kernelParams} array of {@code cuLaunchKernel}: one slot per kernel argument, each pointing
 * at a copy of the argument's value, all allocated in the given arena (which must outlive the launch call).
 */
public final class KernelArguments {
    private static final int MAX_ARGUMENTS = 64;
    private final Arena arena;
    private final MemorySegment pointers;
    private int count;

    /** An empty argument list allocated in {@code arena}. */
    public KernelArguments(Arena arena) {
        this.arena = arena;
        this.pointers = arena.allocate(ValueLayout.ADDRESS, MAX_ARGUMENTS);
    }

    private KernelArguments add(MemorySegment value) {
        if (count == MAX_ARGUMENTS) {
            throw new IllegalStateException("a kernel takes at most " + MAX_ARGUMENTS + " arguments here");
        }
        pointers.setAtIndex(ValueLayout.ADDRESS, count++, value);
        return this;
    }

    /** A pointer argument (a device address). */
    public KernelArguments pointer(MemorySegment address) {
        MemorySegment slot = arena.allocate(ValueLayout.ADDRESS);
        slot.set(ValueLayout.ADDRESS, 0, Arguments.pointer(address, "kernel pointer argument"));
        return add(slot);
    }

    /** An {@code int} argument. */
    public KernelArguments i32(int value) {
        return add(arena.allocateFrom(ValueLayout.JAVA_INT, value));
    }

    /** A {@code long long} / {@code size_t} argument. */
    public KernelArguments i64(long value) {
        return add(arena.allocateFrom(ValueLayout.JAVA_LONG, value));
    }

    /** A {@code float} argument. */
    public KernelArguments f32(float value) {
        return add(arena.allocateFrom(ValueLayout.JAVA_FLOAT, value));
    }

    /** The {@code void**} array to pass to {@link CudaDriver#launchKernel}. */
    public MemorySegment array() {
        return pointers;
    }

    /** Number of arguments added. */
    public int size() {
        return count;
    }
}
