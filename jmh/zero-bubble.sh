#!/usr/bin/env bash
# ZB-H1 against 1F1B, the figure of record (ZeroBubbleBenchmark): pp 4, m 8, a GPT of 8 blocks (C 256, T 128) on the
# CPU backend, 4 pipeline ranks as threads, in one JMH run. Prints per schedule the step time and the bubble fraction
# (idle / makespan, mean over the ranks) measured and simulated (paper costs T_F = T_B = T_W, and the measured mean
# durations), and ZB-H1's as ratios to 1F1B's. Extra JMH options: JMH_OPTS (e.g. "-i 8").
set -euo pipefail
source "$(dirname "$0")/jdk.sh"
jmh_run ZeroBubbleBenchmark
python3 - "$JMH_LOG" <<'PY'
import re, sys
rows = {m.group(1): tuple(float(x) for x in m.groups()[1:]) for m in re.finditer(
    r"# schedule (\S+): step ([\d.]+) ms, bubble measured ([\d.]+), simulated paper ([\d.]+), "
    r"simulated measured-costs ([\d.]+), peak activations (\d+) bytes, "
    r"mean ms F ([\d.]+) B ([\d.]+) I ([\d.]+) W ([\d.]+)", open(sys.argv[1]).read())}
print(f"pp 4, m 8, GPT 8 x C256, T128, 16 sequences, fp32, 4 ranks as threads on {__import__('os').cpu_count()} cores")
print(f"{'schedule':>9} {'ms/step':>9} {'bubble measured':>16} {'simulated (paper)':>18} "
      f"{'simulated (measured costs)':>27} {'peak activations':>17}   mean ms per action")
for s in ("1f1b", "zb-h1"):
    ms, meas, paper, mc, peak, f, b, i, w = rows[s]
    per = f"F {f:.1f}, B {b:.1f}" if s == "1f1b" else f"F {f:.1f}, I {i:.1f}, W {w:.1f}"
    print(f"{s:>9} {ms:>9.1f} {meas:>16.3f} {paper:>18.3f} {mc:>27.3f} {peak / 2**20:>13.2f} MiB   {per}")
a, b = rows["1f1b"], rows["zb-h1"]
print(f"zb-h1 / 1f1b: step time {b[0] / a[0]:.3f}, bubble measured {b[1] / a[1]:.3f}, simulated (paper) "
      f"{b[2] / a[2]:.3f}, simulated (measured costs) {b[3] / a[3]:.3f}, peak activations {b[4] / a[4]:.3f}")
PY
