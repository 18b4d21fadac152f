package dev.gatun.bindings;

import dev.gatun.bindings.raw.nvrtc.nvrtc_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Status-checked facade over NVRTC ({@code libnvrtc}): compiles CUDA C++ source at run time to PTX or CUBIN. A failed
 * compilation throws {@link NvrtcException} carrying the compiler's log.
 */
public final class Nvrtc {
    private static final StatusNames NAMES = new StatusNames(nvrtc_h.class, "nvrtcResult",
            n -> n.startsWith("NVRTC_"));

    private Nvrtc() {
    }

    /** The result of a compilation: the program's PTX, its CUBIN (empty when compiled for a virtual arch) and log. */
    public record Compiled(String ptx, byte[] cubin, String log) {
    }

    /** NVRTC's name of a result code. */
    public static String resultName(int result) {
        return NAMES.name(result);
    }

    /** NVRTC's description of a result code ({@code nvrtcGetErrorString}). */
    public static String errorString(int result) {
        if (NativeLibraries.isLoaded(NativeLibrary.NVRTC)) {
            return nvrtc_h.nvrtcGetErrorString(result).getString(0);
        }
        return "no description: NVRTC is not loaded";
    }

    /** The exception for a result code, with the compile log when there is one. */
    public static NvrtcException exception(String function, int result, String log) {
        return new NvrtcException(function, result, resultName(result), errorString(result), log);
    }

    static void check(int result, String function) {
        if (result != nvrtc_h.NVRTC_SUCCESS()) {
            throw exception(function, result, null);
        }
    }

    /** NVRTC's version as {@code major * 1000 + minor * 10}, like CUDA's version codes (13.0 → 13000). */
    public static int version() {
        NativeLibraries.require(NativeLibrary.NVRTC);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment major = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment minor = arena.allocate(ValueLayout.JAVA_INT);
            check(nvrtc_h.nvrtcVersion(major, minor), "nvrtcVersion");
            return major.get(ValueLayout.JAVA_INT, 0) * 1000 + minor.get(ValueLayout.JAVA_INT, 0) * 10;
        }
    }

    /**
     * Compiles one source file. {@code options} are nvcc-style ({@code --gpu-architecture=sm_90}, {@code -O3},
     * {@code --use_fast_math}); with a real architecture ({@code sm_XX}) the result has a CUBIN, with a virtual one
     * ({@code compute_XX}) only PTX.
     *
     * @throws NvrtcException with the compiler log when compilation fails
     */
    public static Compiled compile(String source, String name, List<String> options) {
        if (source == null || source.isBlank()) {
            throw new IllegalArgumentException("CUDA source must not be empty");
        }
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("program name must not be empty (it names the source in the log)");
        }
        NativeLibraries.require(NativeLibrary.NVRTC);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment programSlot = arena.allocate(ValueLayout.ADDRESS);
            check(nvrtc_h.nvrtcCreateProgram(programSlot, arena.allocateFrom(source), arena.allocateFrom(name), 0,
                    MemorySegment.NULL, MemorySegment.NULL), "nvrtcCreateProgram");
            MemorySegment program = programSlot.get(ValueLayout.ADDRESS, 0);
            try {
                MemorySegment opts = arena.allocate(ValueLayout.ADDRESS, Math.max(1, options.size()));
                for (int i = 0; i < options.size(); i++) {
                    opts.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(options.get(i)));
                }
                int status = nvrtc_h.nvrtcCompileProgram(program, options.size(), opts);
                String log = readString(arena, program, nvrtc_h::nvrtcGetProgramLogSize, nvrtc_h::nvrtcGetProgramLog,
                        "nvrtcGetProgramLog");
                if (status != nvrtc_h.NVRTC_SUCCESS()) {
                    throw exception("nvrtcCompileProgram(" + name + ")", status, log);
                }
                String ptx = readString(arena, program, nvrtc_h::nvrtcGetPTXSize, nvrtc_h::nvrtcGetPTX, "nvrtcGetPTX");
                byte[] cubin = readCubin(arena, program);
                return new Compiled(ptx, cubin, log);
            } finally {
                check(nvrtc_h.nvrtcDestroyProgram(programSlot), "nvrtcDestroyProgram");
            }
        }
    }

    private interface SizeQuery {
        int call(MemorySegment program, MemorySegment size);
    }

    private interface Read {
        int call(MemorySegment program, MemorySegment into);
    }

    private static long size(Arena arena, MemorySegment program, SizeQuery size, String function) {
        MemorySegment n = arena.allocate(ValueLayout.JAVA_LONG);
        check(size.call(program, n), function);
        return n.get(ValueLayout.JAVA_LONG, 0);
    }

    private static byte[] read(Arena arena, MemorySegment program, long bytes, Read read, String function) {
        if (bytes == 0) {
            return new byte[0];
        }
        MemorySegment buf = arena.allocate(bytes);
        check(read.call(program, buf), function);
        return buf.toArray(ValueLayout.JAVA_BYTE);
    }

    private static String readString(Arena arena, MemorySegment program, SizeQuery size, Read read, String function) {
        byte[] bytes = read(arena, program, size(arena, program, size, function + "Size"), read, function);
        int end = bytes.length;
        while (end > 0 && bytes[end - 1] == 0) {
            end--;
        }
        return new String(bytes, 0, end, java.nio.charset.StandardCharsets.UTF_8);
    }

    private static byte[] readCubin(Arena arena, MemorySegment program) {
        MemorySegment n = arena.allocate(ValueLayout.JAVA_LONG);
        int status = nvrtc_h.nvrtcGetCUBINSize(program, n);
        if (status == nvrtc_h.NVRTC_ERROR_INVALID_PROGRAM() || status == nvrtc_h.NVRTC_ERROR_INVALID_INPUT()) {
            return new byte[0]; // compiled for a virtual architecture: PTX only
        }
        check(status, "nvrtcGetCUBINSize");
        return read(arena, program, n.get(ValueLayout.JAVA_LONG, 0), nvrtc_h::nvrtcGetCUBIN, "nvrtcGetCUBIN");
    }
}
