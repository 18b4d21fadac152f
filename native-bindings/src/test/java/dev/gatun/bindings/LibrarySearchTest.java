package dev.gatun.bindings;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class LibrarySearchTest {
    private static final Path CUDART_DIR = Path.of("/usr/local/cuda/lib64");

    @TempDir
    Path tmp;

    private static UnaryOperator<String> map(Map<String, String> values) {
        return values::get;
    }

    /**
     * Builds a shared library whose dependency is gone, like a libcublas without its libcublasLt: the OS loader
     * refuses it with a message naming the missing file.
     */
    private Path brokenLibrary(Path target) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "no gcc to build a broken library with");
        Path dir = Files.createDirectories(tmp.resolve("build"));
        Path dependency = dir.resolve("libgatun_missing_dependency.so");
        Files.writeString(dir.resolve("dep.c"), "int gatun_dep(void) { return 1; }\n");
        Files.writeString(dir.resolve("lib.c"), "int gatun_dep(void);\nint gatun_lib(void) { return gatun_dep(); }\n");
        gcc("-shared", "-fPIC", "-o", dependency.toString(), dir.resolve("dep.c").toString());
        gcc("-shared", "-fPIC", "-o", target.toString(), dir.resolve("lib.c").toString(), "-L" + dir,
                "-lgatun_missing_dependency");
        Files.delete(dependency);
        return target;
    }

    private static void gcc(String... args) throws Exception {
        var command = new java.util.ArrayList<>(java.util.List.of("/usr/bin/gcc"));
        command.addAll(java.util.List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), "gcc failed: " + out);
    }

    @Test
    void missingLibraryListsEveryPlaceTriedWithTheLoadersMessage() throws Exception {
        assumeFalse(NativeLibraries.isLoaded(NativeLibrary.NCCL),
                "NCCL is installed here: the OS loader would find it before the places this test describes");
        Path venv = tmp.resolve("venv");
        Path wheelLib = Files.createDirectories(venv.resolve("lib/python3.12/site-packages/nvidia/nccl/lib"));
        brokenLibrary(wheelLib.resolve("libnccl.so.2"));
        Path cudaHome = tmp.resolve("cuda-home");
        var search = new LibrarySearch(map(Map.of("CUDA_HOME", cudaHome.toString(), "VIRTUAL_ENV", venv.toString())),
                map(Map.of()));

        var e = assertThrows(LibraryNotFoundException.class, () -> search.load(NativeLibrary.NCCL));

        String message = e.getMessage();
        assertTrue(message.startsWith("NCCL (libnccl.so.2) could not be loaded. Tried, in order:"), message);
        assertTrue(message.contains("OS loader"), message);
        assertTrue(message.contains(cudaHome.resolve("lib64").toString()), message);
        assertTrue(message.contains("/usr/local/cuda/lib64"), message);
        assertTrue(message.contains(wheelLib.resolve("libnccl.so.2") + ": "), message);
        // the loader's own message for the file it could not load
        assertTrue(message.contains("libgatun_missing_dependency.so: cannot open shared object file"), message);
        assertTrue(message.contains("-Dgatun.library.nccl=PATH") && message.contains("GATUN_LIBRARY_NCCL"), message);
        assertEquals(3, e.attempts().size(), e.attempts().toString());
    }

    @Test
    void anOverrideIsTheOnlyPlaceTried() throws Exception {
        Path notALibrary = brokenLibrary(tmp.resolve("libcublas.so.13"));
        var search = new LibrarySearch(map(Map.of()), map(Map.of("gatun.library.cublas", notALibrary.toString())));

        var e = assertThrows(LibraryNotFoundException.class, () -> search.load(NativeLibrary.CUBLAS));

        assertEquals(1, e.attempts().size(), e.attempts().toString());
        assertTrue(e.attempts().getFirst().startsWith("override -Dgatun.library.cublas=" + notALibrary), e.getMessage());
        assertTrue(e.attempts().getFirst().contains(notALibrary.toString()), e.getMessage());
    }

    @Test
    void anEnvironmentOverrideNamingAMissingDirectoryListsEachSoname() {
        Path missing = tmp.resolve("nowhere");
        var search = new LibrarySearch(map(Map.of("GATUN_LIBRARY_NVRTC", missing.toString())), map(Map.of()));

        var e = assertThrows(LibraryNotFoundException.class, () -> search.load(NativeLibrary.NVRTC));

        assertEquals(1, e.attempts().size(), "a missing path is taken as a file: " + e.attempts());
        assertTrue(e.getMessage().contains("override GATUN_LIBRARY_NVRTC=" + missing), e.getMessage());
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    }

    @Test
    void anOverrideDirectoryLoadsTheRuntimeFromIt() {
        assumeTrue(Files.exists(CUDART_DIR.resolve("libcudart.so.13")), "no CUDA 13 runtime in " + CUDART_DIR);
        var search = new LibrarySearch(map(Map.of()), map(Map.of("gatun.library.cudart", CUDART_DIR.toString())));

        LoadedLibrary loaded = search.load(NativeLibrary.CUDART);

        assertEquals("libcudart.so.13", loaded.path().getFileName().toString());
        assertTrue(loaded.how().startsWith("override -Dgatun.library.cudart="), loaded.how());
    }

    @Test
    void theOsLoaderReportsTheFileItLoaded() {
        assumeTrue(NativeLibraries.isLoaded(NativeLibrary.CUDART), "no CUDA runtime on this machine");
        LoadedLibrary loaded = NativeLibraries.require(NativeLibrary.CUDART);
        assertTrue(Files.isRegularFile(loaded.path()), loaded.toString());
        assertTrue(loaded.path().getFileName().toString().startsWith("libcudart.so."), loaded.toString());
    }

    @Test
    void aLibraryThatCannotBeLoadedFailsOnUseNotAtClassLoad() {
        assumeFalse(NativeLibraries.isLoaded(NativeLibrary.CUBLAS), "cuBLAS is installed here");
        var e = assertThrows(LibraryNotFoundException.class, Cublas::create);
        assertEquals(NativeLibrary.CUBLAS, e.library());
        // the same failure again, not a NoClassDefFoundError
        assertThrows(LibraryNotFoundException.class, Cublas::version);
    }
}
