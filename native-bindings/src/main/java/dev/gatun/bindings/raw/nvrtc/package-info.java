/**
 * Raw bindings of the NVRTC header {@code nvrtc.h} in jextract's layout ({@link nvrtc_h}), for exactly the symbols
 * listed in {@code native-bindings/jextract/nvrtc.args}. Not for direct use: they deal in raw {@code MemorySegment}s
 * and {@code int} status codes; use the status-checked facade {@link dev.gatun.bindings.Nvrtc} in
 * {@code dev.gatun.bindings}. Symbols resolve through {@code SymbolLookup.loaderLookup()} once
 * {@link dev.gatun.bindings.NativeLibraries} has loaded {@code libnvrtc}.
 */
package dev.gatun.bindings.raw.nvrtc;
