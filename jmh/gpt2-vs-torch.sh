#!/usr/bin/env bash
# A GPT-2 training step (fp32, batch 4 x 64, forward + backward + clipping + AdamW) in Gatun's CPU backend
# (GptStepBenchmark, JMH) against the same step in PyTorch (jmh/gpt2-step-torch.py) on the same weights and batch,
# interleaved: PyTorch, JMH, PyTorch. Prints ms/step of each and the ratio PyTorch / Gatun (> 1: Gatun is faster).
# PyTorch first checks the loss of the batch on Gatun's initial weights: it must agree to 1e-5 or the script stops.
#
# PyTorch: Debian's python3-torch (apt-get install python3-torch libopenblas0-openmp; TORCH_PYTHON picks another
# interpreter, default /usr/bin/python3), with OpenBLAS's OpenMP build put first (LD_PRELOAD) so torch does not fall back
# to the reference BLAS it links, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (so OpenBLAS picks its kernels for this
# CPU), and glibc's malloc told to keep freed memory (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ high): torch's CPU
# allocator is malloc, and without that every step maps and faults in its activations again.
# Presets: PRESETS="tiny gpt2" (default both); torch steps: TORCH_STEPS (default 20); extra JMH options: JMH_OPTS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/jmh/jdk.sh"
jar="$root/jmh/target/benchmarks.jar"
[ -f "$jar" ] || (cd "$root" && mvn -q -B -ntp -DskipTests package -pl jmh -am) >&2
python=${TORCH_PYTHON:-/usr/bin/python3}
presets=${PRESETS:-tiny gpt2}
blas=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

torch_ms() { # preset -> "ms" line of gpt2-step-torch.py, after checking its loss against Gatun's
  local dir="$work/$1" gatun torch
  gatun=$(cat "$dir/gatun-loss")
  out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    $( [ -f "$blas" ] && echo "LD_PRELOAD=$blas" ) MALLOC_MMAP_THRESHOLD_=17179869184 \
    MALLOC_TRIM_THRESHOLD_=17179869184 "$python" "$root/jmh/gpt2-step-torch.py" "$dir" "${TORCH_STEPS:-20}")
  torch=$(echo "$out" | awk '/^loss/ {print $2}')
  "$python" -c "import sys; g, t = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(g - t) <= 1e-5 * abs(g) else
    f'the losses differ: Gatun {g}, PyTorch {t}: not the same model')" "$gatun" "$torch"
  echo "$out" | awk '/^ms/ {print $2}'
}

for p in $presets; do
  mkdir -p "$work/$p"
  "$JAVA" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -cp "$jar" dev.gatun.jmh.GptStep \
    "$p" "$work/$p" 2>/dev/null | awk '/^loss/ {print $2}' > "$work/$p/gatun-loss"
  echo "$p: loss of the batch on the initial weights: Gatun $(cat "$work/$p/gatun-loss")" >&2
  torch_ms "$p" > "$work/$p/torch-before"
done
"$JAVA" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -jar "$jar" GptStepBenchmark \
  -p preset="$(echo $presets | tr ' ' ',')" -rf json -rff "$work/jmh.json" ${JMH_OPTS:-} >&2
for p in $presets; do
  torch_ms "$p" > "$work/$p/torch-after"
done
"$python" - "$work" $presets <<'PY'
import json, sys
work, presets = sys.argv[1], sys.argv[2:]
gatun = {r["params"]["preset"]: r["primaryMetric"]["score"] for r in json.load(open(f"{work}/jmh.json"))}
print("ms per training step, fp32, batch 4 x 64 tokens, all cores. PyTorch: median step of a run before and one")
print("after JMH (the better of the two); Gatun: JMH mean. ratio = PyTorch / Gatun (> 1: Gatun is faster)")
print(f"{'preset':>7} {'PyTorch':>9} {'(before':>8} {'after)':>7} {'Gatun':>9} {'ratio':>7}")
for p in presets:
    before, after = (float(open(f"{work}/{p}/torch-{w}").read()) for w in ("before", "after"))
    torch = min(before, after)
    print(f"{p:>7} {torch:>9.1f} {before:>8.1f} {after:>7.1f} {gatun[p]:>9.1f} {torch / gatun[p]:>7.2f}")
PY
