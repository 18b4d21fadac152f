#!/usr/bin/env bash
# cuBLAS bf16 8192^3 GEMM issued from Java (CublasGemmBenchmark) vs torch.matmul on the same GPU, in one run.
# Prints TFLOP/s of both and the ratio (goal >= 0.98). Needs a GPU, python3 with torch, and jmh/target/benchmarks.jar.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/jmh/jdk.sh"
jar="$root/jmh/target/benchmarks.jar"
[ -f "$jar" ] || (cd "$root" && mvn -q -B -ntp -DskipTests package -pl jmh -am) >&2
n=${N:-8192}
python=${PYTHON:-python3}
torch_line=$("$python" "$root/jmh/torch-matmul.py" "$n")
echo "$torch_line" >&2
torch_ms=$(echo "$torch_line" | sed -n 's/^torch.matmul bf16 [0-9]*^3: \([0-9.]*\) ms.*/\1/p')
out=$(mktemp)
"$JAVA" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -jar "$jar" CublasGemmBenchmark \
  -p n="$n" -rf json -rff "$out" >&2
"$python" - "$out" "$n" "$torch_ms" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))[0]
n, torch_ms = int(sys.argv[2]), float(sys.argv[3])
java_ms = r["primaryMetric"]["score"]
flops = 2 * n ** 3
print(f"torch.matmul bf16 {n}^3: {torch_ms:.3f} ms  {flops / torch_ms / 1e9:.1f} TFLOP/s")
print(f"Gatun cuBLAS bf16 {n}^3: {java_ms:.3f} ms  {flops / java_ms / 1e9:.1f} TFLOP/s")
print(f"ratio Gatun / torch = {torch_ms / java_ms:.3f}")
PY
