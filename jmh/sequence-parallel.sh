#!/usr/bin/env bash
# Sequence parallelism's figure of record (SequenceParallelBenchmark): GPT-2 124M's shape, 2 x 128 tokens, fp32, tp 2
# (2 ranks as threads on the CPU backend), with and without --sequence-parallel, in one JMH run. Prints the step time
# and the largest rank's peak of activation memory for each, and the ratios. Extra JMH options: JMH_OPTS.
set -euo pipefail
source "$(dirname "$0")/jdk.sh"
jmh_run SequenceParallelBenchmark
python3 - "$JMH_LOG" <<'PY'
import re, sys
rows = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in re.finditer(
    r"# sequence-parallel (\w+): step ([\d.]+) ms, peak activations ([\d.]+) bytes", open(sys.argv[1]).read())}
print(f"GPT-2 124M shape, 2 x 128 tokens, fp32, tp 2 as threads on {__import__('os').cpu_count()} cores")
print(f"{'sequence parallel':>18} {'ms/step':>9} {'peak activations':>17}")
for k in ("false", "true"):
    ms, peak = rows[k]
    print(f"{k:>18} {ms:>9.1f} {peak / 2**20:>13.1f} MiB")
a, b = rows["false"], rows["true"]
print(f"with / without: step time {b[0] / a[0]:.3f}, peak activations {b[1] / a[1]:.3f}")
PY
