/**
 * Raw bindings of the CUDA driver API header {@code cuda.h} in jextract's layout ({@link cuda_h}), for exactly the
 * symbols listed in {@code native-bindings/jextract/cuda.args}. Not for direct use: they deal in raw
 * {@code MemorySegment}s and {@code int} status codes; use the status-checked facade
 * {@link dev.gatun.bindings.CudaDriver} in {@code dev.gatun.bindings}. Symbols resolve through
 * {@code SymbolLookup.loaderLookup()} once {@link dev.gatun.bindings.NativeLibraries} has loaded {@code libcuda}.
 */
package dev.gatun.bindings.raw.cuda;
