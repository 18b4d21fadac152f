package dev.gatun.bindings;

import dev.gatun.bindings.raw.libc.stdlib_h;

import java.lang.foreign.MemorySegment;

/**
 * The C library's heap: zeroed memory that the JVM does not fill itself. {@code calloc} of a large block maps fresh
 * pages, which the kernel hands out zeroed, so the memory is written once, by its first user, where an
 * {@link java.lang.foreign.Arena} would first zero-fill it (and fault every page in) itself.
 */
public final class LibC {
    private LibC() {
    }

    /**
     * {@code calloc(1, bytes)}: the address of {@code bytes} zeroed bytes, 16-byte aligned (glibc), as a segment of
     * size zero; give it back with {@link #free}.
     *
     * @throws IllegalArgumentException when {@code bytes} is not positive
     * @throws OutOfMemoryError         when the C library has no memory for it
     */
    public static MemorySegment calloc(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("bytes must be > 0, got " + bytes);
        }
        MemorySegment address = stdlib_h.calloc(1, bytes);
        if (address.equals(MemorySegment.NULL)) {
            throw new OutOfMemoryError("calloc could not allocate " + bytes + " bytes of host memory");
        }
        return address;
    }

    /** Huge pages: 2 MiB, on x86-64 and most AArch64 Linux kernels. */
    private static final long HUGE_PAGE = 2L << 20;

    /**
     * Asks Linux to back the whole 2 MiB pages inside {@code [address, address + bytes)} with transparent huge pages
     * ({@code madvise(MADV_HUGEPAGE)}; the default "madvise" mode of THP does so only where asked): a first touch then
     * faults in 2 MiB at once instead of 4 KiB, which in a virtual machine is where fresh memory costs most (on this
     * project's 2-core VM: 2.0 s against 3.2 s per GiB). Returns whether the kernel took the advice; nothing happens
     * for less than a huge page, or without {@code madvise}.
     */
    public static boolean adviseHugePages(long address, long bytes) {
        long start = (address + HUGE_PAGE - 1) & -HUGE_PAGE;
        long end = (address + bytes) & -HUGE_PAGE;
        if (end <= start) {
            return false;
        }
        return stdlib_h.madvise(MemorySegment.ofAddress(start), end - start, stdlib_h.MADV_HUGEPAGE) == 0;
    }

    /** {@code free(address)} of an address from {@link #calloc}. */
    public static void free(MemorySegment address) {
        stdlib_h.free(address);
    }
}
