package dev.gatun.bindings;

import java.nio.file.Path;

/**
 * A native library that is loaded into this process.
 *
 * @param library which library
 * @param path    the file that was loaded
 * @param how     how it was found (override, OS loader, CUDA_HOME, ...)
 */
public record LoadedLibrary(NativeLibrary library, Path path, String how) {
}
