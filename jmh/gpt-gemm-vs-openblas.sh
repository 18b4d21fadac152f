#!/usr/bin/env bash
# The CPU backend's fp32 GEMM at every shape of a GPT-2 124M training step (GptGemmBenchmark: forward X·Wᵀ, input
# gradient dY·W, weight gradient dYᵀ·X for QKV, attention projection, MLP up and down and the LM head, at B·T = 256
# and 1024 rows) against numpy/OpenBLAS at the same shapes and transposes (jmh/gpt-gemm-numpy.py), numpy before and
# after JMH. Prints GFLOP/s of both per shape and the ratio Java / OpenBLAS (goal >= 1.0). numpy runs with
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, as in jmh/gemm-vs-openblas.sh. Rows: TOKENS="256 1024"; extra JMH
# options: JMH_OPTS (e.g. "-wi 3 -i 5").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/jmh/jdk.sh"
jar="$root/jmh/target/benchmarks.jar"
[ -f "$jar" ] || (cd "$root" && mvn -q -B -ntp -DskipTests package -pl jmh -am) >&2
tokens=${TOKENS:-256 1024}
numpy() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 "$root/jmh/gpt-gemm-numpy.py" $tokens; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
before=$(numpy)
"$JAVA" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -jar "$jar" GptGemmBenchmark \
  -p tokens="$(echo $tokens | tr ' ' ',')" -rf json -rff "$out" ${JMH_OPTS:-} >&2
after=$(numpy)
python3 - "$out" "$before" "$after" <<'PY'
import json, sys
numpy = {}
for line in (sys.argv[2] + "\n" + sys.argv[3]).splitlines():
    shape, tokens, g = line.split()
    key = (shape, int(tokens))
    numpy[key] = max(numpy.get(key, 0), float(g))
sizes = {"qkv": (768, 2304), "proj": (768, 768), "fc": (768, 3072), "fc2": (3072, 768), "head": (768, 50304)}
print("GFLOP/s = 2mnk / time. numpy: best of 10 calls (the better of its runs before and after JMH); Java: JMH mean")
print(f"{'shape':>9} {'rows':>5} {'numpy':>7} {'Java':>7} {'ratio':>6}")
for r in json.load(open(sys.argv[1])):
    shape, tokens = r["params"]["shape"], int(r["params"]["tokens"])
    fan_in, fan_out = sizes[shape.split(".")[0]]
    java = 2 * tokens * fan_in * fan_out / (r["primaryMetric"]["score"] / 1e3) / 1e9
    ref = numpy[(shape, tokens)]
    print(f"{shape:>9} {tokens:>5} {ref:>7.1f} {java:>7.1f} {java / ref:>6.2f}")
PY
