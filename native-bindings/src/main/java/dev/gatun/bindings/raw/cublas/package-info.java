/**
 * Raw bindings of the cuBLAS header {@code cublas_v2.h} (its exported {@code _v2} entry points) in jextract's layout
 * ({@link cublas_v2_h}), for exactly the symbols listed in {@code native-bindings/jextract/cublas.args}. Not for direct
 * use: they deal in raw {@code MemorySegment}s and {@code int} status codes; use the status-checked facade
 * {@link dev.gatun.bindings.Cublas} in {@code dev.gatun.bindings}. Symbols resolve through
 * {@code SymbolLookup.loaderLookup()} once {@link dev.gatun.bindings.NativeLibraries} has loaded {@code libcublas}.
 */
package dev.gatun.bindings.raw.cublas;
