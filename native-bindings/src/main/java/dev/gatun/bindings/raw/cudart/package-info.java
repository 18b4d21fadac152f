/**
 * Raw bindings of the CUDA runtime header {@code cuda_runtime_api.h} in jextract's layout ({@link cuda_runtime_api_h}
 * and the struct {@link cudaPointerAttributes}), for exactly the symbols listed in
 * {@code native-bindings/jextract/cudart.args}. Not for direct use: they deal in raw {@code MemorySegment}s and
 * {@code int} status codes; use the status-checked facade {@link dev.gatun.bindings.Cuda} in
 * {@code dev.gatun.bindings}. Symbols resolve through {@code SymbolLookup.loaderLookup()} once
 * {@link dev.gatun.bindings.NativeLibraries} has loaded {@code libcudart}.
 */
package dev.gatun.bindings.raw.cudart;
