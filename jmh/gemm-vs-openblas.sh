#!/usr/bin/env bash
# The CPU backend's fp32 GEMM (CpuGemmBenchmark, all cores) vs numpy `a @ b` (OpenBLAS) on this machine, square
# n = 1024 and 2048, numpy first, then JMH, then numpy again (other load on the machine shows as a gap between them).
# Prints GFLOP/s of both and the ratio Java / OpenBLAS (goal >= 0.7), from JMH's mean and from its best iteration.
# numpy runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (this machine's environment sets them to Haswell and
# 512, which hold OpenBLAS to AVX2 kernels: 180 instead of 310 GFLOP/s at the GPT-2 shapes), so it picks its own.
# Needs python3 with numpy and jmh/target/benchmarks.jar (built when missing; after changing ops:
# mvn -o install -pl ops -DskipTests, then mvn -o package -pl jmh -DskipTests). Sizes: SIZES="1024 2048"; extra JMH
# options: JMH_OPTS (e.g. "-wi 3 -i 5").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/jmh/jdk.sh"
jar="$root/jmh/target/benchmarks.jar"
[ -f "$jar" ] || (cd "$root" && mvn -q -B -ntp -DskipTests package -pl jmh -am) >&2
sizes=${SIZES:-1024 2048}

numpy_gflops() { # best of 10 runs per size, after 3 warm-up runs
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 - $sizes <<'PY'
import sys, time
import numpy as np
rng = np.random.default_rng(42)
for n in map(int, sys.argv[1:]):
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    print(n, 2 * n ** 3 / best / 1e9)
PY
}

before=$(numpy_gflops)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$JAVA" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -jar "$jar" CpuGemmBenchmark \
  -p n="$(echo $sizes | tr ' ' ',')" -rf json -rff "$out" ${JMH_OPTS:-} >&2
after=$(numpy_gflops)
python3 - "$out" "$before" "$after" <<'PY'
import json, sys
numpy = {}
for line in (sys.argv[2] + "\n" + sys.argv[3]).splitlines():
    n, g = line.split()
    numpy[int(n)] = max(numpy.get(int(n), 0), float(g))
print("GFLOP/s = 2n^3 / time. numpy: best of 10 runs (max over the runs before and after JMH); Java: JMH mean")
print("and best iteration. Other load on the machine lowers the means first; compare the best figures then.")
print(f"{'n':>6} {'numpy best':>11} {'Java mean':>10} {'Java best':>10} {'ratio mean':>11} {'ratio best':>11}")
for r in json.load(open(sys.argv[1])):
    n = int(r["params"]["n"])
    flops = 2 * n ** 3
    mean = flops / (r["primaryMetric"]["score"] / 1e3) / 1e9
    best = flops / (min(x for fork in r["primaryMetric"]["rawData"] for x in fork) / 1e3) / 1e9
    print(f"{n:>6} {numpy[n]:>11.1f} {mean:>10.1f} {best:>10.1f} {mean / numpy[n]:>11.3f} {best / numpy[n]:>11.3f}")
PY
