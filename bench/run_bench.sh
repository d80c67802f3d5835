#!/usr/bin/env bash
# Side by side, in one command: hsicc's emitted SSRN and contextual CNN against the same nets in
# PyTorch (Debian python3-torch), on this machine, 2 threads each, alternating A B A B so drift
# hits both. Prints every measurement and the median samples/s ratio per net.
#   bench/run_bench.sh [ROUNDS] [SECONDS]      (default 3 rounds of 5 s per measurement)
#   THREADS=1 bench/run_bench.sh               (per-core comparison; default 2 threads)
# Needs a build (./hsi build) and /usr/bin/python3 with torch. Quote only runs on an idle
# machine: the script prints the load average before each round.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-5}
build=${BUILD:-build}
cmake --build "$build" --target bench_ssrn bench_contextual -j "$(nproc)" >/dev/null
threads=${THREADS:-2}
export OMP_NUM_THREADS=$threads
log=$(mktemp)
for r in $(seq "$rounds"); do
  echo "round $r: load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$build/bench/bench_ssrn" --batch 16 --solver rmsprop --seconds "$secs" | tee -a "$log"
  (cd bench && /usr/bin/python3 torch_step.py --net ssrn --seconds "$secs" --threads "$threads" --profile-iters 0) | grep train_step | tee -a "$log"
  "$build/bench/bench_contextual" --batch 128 --solver sgd --seconds "$secs" | tee -a "$log"
  (cd bench && /usr/bin/python3 torch_step.py --net contextual --seconds "$secs" --threads "$threads" --profile-iters 0) | grep train_step | tee -a "$log"
done
/usr/bin/python3 - "$log" <<'PY'
import re, statistics, sys
rates = {}
for line in open(sys.argv[1]):
    m = re.match(r"(hsicc|torch) (\w+) train_step .*samples_per_s=([\d.]+)", line)
    if m:
        rates.setdefault((m.group(1), m.group(2)), []).append(float(m.group(3)))
for net in ("ssrn", "contextual"):
    h, t = rates.get(("hsicc", net)), rates.get(("torch", net))
    if h and t:
        mh, mt = statistics.median(h), statistics.median(t)
        print(f"{net}: hsicc {mh:.1f} samples/s, PyTorch {mt:.1f} samples/s, ratio {mh / mt:.2f}x "
              f"(medians of {len(h)} and {len(t)} training-step measurements)")
PY
rm -f "$log"
