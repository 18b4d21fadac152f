package dev.gatun.bindings.raw.libc;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The C library's heap from {@code <stdlib.h>}, in jextract's layout: {@code void *calloc(size_t nmemb, size_t size)}
 * and {@code void free(void *ptr)}, and {@code madvise} from {@code <sys/mman.h>}, found in the libraries the JVM itself links ({@link Linker#defaultLookup()}).
 */
public final class stdlib_h {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle CALLOC = LINKER.downcallHandle(
            LINKER.defaultLookup().find("calloc").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    private static final MethodHandle FREE = LINKER.downcallHandle(
            LINKER.defaultLookup().find("free").orElseThrow(),
            FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));

    private static final MethodHandle MADVISE = LINKER.defaultLookup().find("madvise").map(symbol ->
            LINKER.downcallHandle(symbol, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT))).orElse(null);

    /** {@code MADV_HUGEPAGE} of Linux's {@code <sys/mman.h>}. */
    public static final int MADV_HUGEPAGE = 14;

    private stdlib_h() {
    }

    /** {@code void *calloc(size_t nmemb, size_t size)} */
    public static MemorySegment calloc(long nmemb, long size) {
        try {
            return (MemorySegment) CALLOC.invokeExact(nmemb, size);
        } catch (Throwable t) {
            throw new AssertionError("calloc downcall failed", t);
        }
    }

    /** {@code int madvise(void *addr, size_t length, int advice)} ({@code <sys/mman.h>}); -1 where there is none. */
    public static int madvise(MemorySegment addr, long length, int advice) {
        if (MADVISE == null) {
            return -1;
        }
        try {
            return (int) MADVISE.invokeExact(addr, length, advice);
        } catch (Throwable t) {
            throw new AssertionError("madvise downcall failed", t);
        }
    }

    /** {@code void free(void *ptr)} */
    public static void free(MemorySegment ptr) {
        try {
            FREE.invokeExact(ptr);
        } catch (Throwable t) {
            throw new AssertionError("free downcall failed", t);
        }
    }
}
