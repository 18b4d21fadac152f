#!/usr/bin/env bash
# Activation recomputation's figures of record (RecomputeBenchmark): a GPT-2 124M training step, fp32, 2 x 128 tokens,
# one rank on the CPU backend, under none, selective and full recomputation in one JMH run. Prints ms per step and
# the peak of activation memory for each, and both as ratios to none. Extra JMH options: JMH_OPTS (e.g. "-i 6").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/jmh/jdk.sh"
jar="$root/jmh/target/benchmarks.jar"
[ -f "$jar" ] || (cd "$root" && mvn -q -B -ntp -DskipTests package -pl jmh -am) >&2
json=$(mktemp)
log=$(mktemp)
trap 'rm -f "$json" "$log"' EXIT
"$JAVA" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -jar "$jar" RecomputeBenchmark \
  -rf json -rff "$json" ${JMH_OPTS:-} | tee "$log" >&2
python3 - "$json" "$log" <<'PY'
import json, re, sys
peaks = {m.group(1): int(m.group(2)) for m in
         re.finditer(r"# recompute (\w+): peak activations (\d+) bytes", open(sys.argv[2]).read())}
rows = {r["params"]["recompute"]: (r["primaryMetric"]["score"], r["primaryMetric"]["scoreError"])
        for r in json.load(open(sys.argv[1]))}
base_ms, base_peak = rows["none"][0], peaks["none"]
print("GPT-2 124M, fp32, 2 x 128 tokens, one rank on the CPU backend (JMH mean; peak activations from the accountant)")
print(f"{'recompute':>10} {'ms/step':>9} {'+-':>6} {'time/none':>10} {'peak activations':>17} {'peak/none':>10}")
for mode in ("none", "selective", "full"):
    ms, err = rows[mode]
    peak = peaks[mode]
    print(f"{mode:>10} {ms:>9.1f} {err:>6.1f} {ms / base_ms:>10.3f} {peak / 2**20:>13.1f} MiB {peak / base_peak:>10.3f}")
PY
