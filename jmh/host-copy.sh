#!/usr/bin/env bash
# Host copy bandwidth: MemorySegment.copy vs the C library's memcpy through Panama, 64 MiB, in one JMH run.
# Prints GB/s of both and the ratio. Usage: jmh/host-copy.sh  (builds jmh/target/benchmarks.jar when missing)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/jmh/jdk.sh"
jar="$root/jmh/target/benchmarks.jar"
[ -f "$jar" ] || (cd "$root" && mvn -q -B -ntp -DskipTests package -pl jmh -am) >&2
out=$(mktemp)
"$JAVA" --enable-native-access=ALL-UNNAMED -jar "$jar" HostCopyBenchmark -rf json -rff "$out" >&2
python3 - "$out" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))
bw = {}
for r in runs:
    name = r["benchmark"].rsplit(".", 1)[1]
    size = int(r["params"]["bytes"])
    ms = r["primaryMetric"]["score"]
    bw[name] = size / (ms / 1e3) / 1e9
    print(f"{name:12s} {size >> 20} MiB  {ms:8.3f} ms/op  {bw[name]:6.2f} GB/s")
print(f"ratio MemorySegment.copy / memcpy = {bw['segmentCopy'] / bw['memcpy']:.3f}")
PY
