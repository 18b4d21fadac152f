/**
 * Typed, status-checked facades over the native GPU libraries, the only code that uses the raw bindings of
 * {@code dev.gatun.bindings.raw}: {@link Cuda} (runtime), {@link CudaDriver} (driver API), {@link Cublas}, {@link Nccl}
 * and {@link Nvrtc}. A failed call throws a {@link GpuException} carrying the function, the status code, its name and
 * the library's message. {@link NativeLibraries} loads each {@link NativeLibrary} once, found by {@link LibrarySearch}
 * (override, OS loader, CUDA_HOME, pip wheels), and {@link NativeInventory} reports what the machine offers. No GPU is
 * a normal state: {@link Cuda#isAvailable()} says so, and nothing throws until a device is asked for.
 */
package dev.gatun.bindings;
