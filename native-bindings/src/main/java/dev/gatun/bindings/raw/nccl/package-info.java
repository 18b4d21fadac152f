/**
 * Raw bindings of the NCCL header {@code nccl.h} in jextract's layout ({@link nccl_h} and the struct
 * {@link ncclUniqueId}), for exactly the symbols listed in {@code native-bindings/jextract/nccl.args}. Not for direct
 * use: they deal in raw {@code MemorySegment}s and {@code int} status codes; use the status-checked facade
 * {@link dev.gatun.bindings.Nccl} in {@code dev.gatun.bindings}. Symbols resolve through
 * {@code SymbolLookup.loaderLookup()} once {@link dev.gatun.bindings.NativeLibraries} has loaded {@code libnccl}.
 */
package dev.gatun.bindings.raw.nccl;
