#!/usr/bin/env bash
# Regenerates the raw bindings under src/main/java/dev/gatun/bindings/raw/ with jextract (JDK 22+ jextract), from the
# real headers, for exactly the symbols listed in the argfiles beside this script.
#   native-bindings/jextract/regenerate.sh            headers from $CUDA_HOME (default /usr/local/cuda) and, for
#                                                     cuBLAS, NCCL and NVRTC, from $NVIDIA_INCLUDE (pip wheels'
#                                                     site-packages/nvidia/*/include, colon-separated)
# No -l/--library: the generated classes look symbols up with SymbolLookup.loaderLookup(), and the hand-written
# loader (dev.gatun.bindings.LibrarySearch) loads the versioned sonames with System.load before first use.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../src/main/java"
cuda=${CUDA_HOME:-/usr/local/cuda}
command -v jextract >/dev/null || { echo "regenerate.sh: jextract is not on PATH (https://jdk.java.net/jextract/)" >&2; exit 1; }

includes=(-I "$cuda/include")
IFS=: read -r -a extra <<< "${NVIDIA_INCLUDE:-}"
for d in "${extra[@]}"; do [ -n "$d" ] && includes+=(-I "$d"); done

gen() { # argfile package header-class header
  jextract --output "$out" -t "$2" --header-class-name "$3" "${includes[@]}" "@$here/$1" "$4"
}
gen cudart.args dev.gatun.bindings.raw.cudart cuda_runtime_api_h "$cuda/include/cuda_runtime_api.h"
gen cuda.args   dev.gatun.bindings.raw.cuda   cuda_h             "$cuda/include/cuda.h"
gen cublas.args dev.gatun.bindings.raw.cublas cublas_v2_h        cublas_v2.h
gen nccl.args   dev.gatun.bindings.raw.nccl   nccl_h             nccl.h
gen nvrtc.args  dev.gatun.bindings.raw.nvrtc  nvrtc_h            nvrtc.h
# MPI: Open MPI's mpi.h (Debian: libopenmpi-dev, /usr/lib/x86_64-linux-gnu/openmpi/include)
mpi_include=${MPI_INCLUDE:-/usr/lib/x86_64-linux-gnu/openmpi/include}
jextract --output "$out" -t dev.gatun.bindings.raw.mpi --header-class-name mpi_h -I "$mpi_include" "@$here/mpi.args" \
  "$mpi_include/mpi.h"
echo "regenerated into $out/dev/gatun/bindings/raw; run the HeaderConformanceTest" >&2
