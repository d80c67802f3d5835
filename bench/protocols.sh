#!/usr/bin/env bash
# The Salinas-A protocols, hsicc and PyTorch side by side in one command, so the accuracy gap
# and the speed ratio are measured numbers:
#   SSRN        examples/ssrn-salinasA.yaml        vs bench/torch_protocol.py --protocol ssrn
#   contextual  examples/contextual-salinasA.yaml  vs bench/torch_protocol.py --protocol contextual
# Same split rule, preprocessing, solver, schedule and seeds count (the random draws differ).
#   bench/protocols.sh [OUT_DIR] [extra --set for the hsicc trainers...]
# Runs one job at a time with 2 threads each. Full protocols take tens of minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/protocols}
shift || true
build=${BUILD:-build}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export OMP_NUM_THREADS=2
export HSICC_DATA_MIRROR=${HSICC_DATA_MIRROR:-$(cd .. && pwd)/shared/data}
cmake --build "$build" --target hsicc -j "$(nproc)" >/dev/null
for p in ssrn contextual; do
  "$build/compiler/hsicc" build "examples/$p-salinasA.yaml" -o "$out/$p-trainer" >/dev/null
  start=$(date +%s.%N)
  "$out/$p-trainer" train --out "$out/hsicc-$p" --overwrite "$@" > "$out/hsicc-$p.log" 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc > "$out/hsicc-$p.wall"
  tail -3 "$out/hsicc-$p.log"
  start=$(date +%s.%N)
  (cd bench && /usr/bin/python3 torch_protocol.py --protocol "$p" --seeds 0 1 2 3 4 \
      --data "$HSICC_DATA_MIRROR/SalinasA" --l2 0 --out "$out/torch-$p.json") > "$out/torch-$p.log" 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc > "$out/torch-$p.wall"
  tail -3 "$out/torch-$p.log"
done
/usr/bin/python3 - "$out" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
def hsicc(p):
    m = json.load(open(os.path.join(out, "hsicc-%s" % p, "metrics.json")))
    runs = m.get("runs", [])
    vals = {k: [r[k] for r in runs] for k in ("oa", "aa", "kappa")}
    sps = statistics.mean(r["samples_per_s"] for r in runs) if runs and "samples_per_s" in runs[0] else float("nan")
    return vals, sps
def torch(p):
    m = json.load(open(os.path.join(out, "torch-%s.json" % p)))
    vals = {k: [r[k] for r in m["runs"]] for k in ("oa", "aa", "kappa")}
    return vals, m["summary"]["train_samples_per_s_mean"]
def cell(v):   # mean ± sample std (n-1) for both implementations
    return "%.4f ± %.4f" % (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
print("%-11s %-8s %-17s %-17s %-17s %8s %11s" % ("protocol", "impl", "OA", "AA", "kappa", "wall s", "train smp/s"))
for p in ("ssrn", "contextual"):
    for name, (vals, sps) in (("hsicc", hsicc(p)), ("PyTorch", torch(p))):
        wall = float(open(os.path.join(out, "%s-%s.wall" % ("hsicc" if name == "hsicc" else "torch", p))).read())
        print("%-11s %-8s %-17s %-17s %-17s %8.0f %11.0f" % (p, name, cell(vals["oa"]), cell(vals["aa"]),
              cell(vals["kappa"]), wall, sps))
PY
