#!/usr/bin/env bash
# sweep_bench.sh — does `hsicc sweep -j 2` pay on this machine? Two sweep points (the contextual
# CNN at depth 1 and 2 on the right half of Salinas-A, 102 bands, batch 64) trained by
#   A: hsicc sweep -j 2   (two trainers at once; the usable CPUs divided between them)
#   B: hsicc sweep -j 1   (one after another; each trainer gets every usable CPU)
# timed as whole processes, A and B in turn, by farm-bench (the tool library's timer); the
# ratio A/B < 1 means running the points side by side is faster in aggregate.
#   bench/sweep_bench.sh [ITERATIONS] [RUNS]      defaults: 300 iterations, 3 pairs
# Run it on an IDLE machine (docs/CLUSTER.md, "Threads"); not part of the tests.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
iters=${1:-300}
runs=${2:-3}
hsicc=${HSICC:-$here/build/compiler/hsicc}
[ -n "${HSICC_DATA_MIRROR:-}" ] || { [ -d "$here/../shared/data" ] && export HSICC_DATA_MIRROR="$here/../shared/data"; }
work=$(mktemp -d /tmp/sweep_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/sweep.yaml" <<YAML
name: sweep-bench
net: $here/netdefs/contextual.hsn
domains:
  - name: right102
    dataset: SalinasA
    labels: [10, 11, 12, 13, 14]
    region: {half: right}
    bands: {resample: 102}
preprocess: {patch: 5}
split: {train: 5}
solver: {type: sgd, lr: 0.01, momentum: 0.9}
train: {batch: 64, iterations: $iters, select: last}
sweep:
  defines.depth: [1, 2]
runs: {count: 1, seed: 1}
outputs: {maps: false, curves: false, checkpoints: none}
YAML
unset OMP_NUM_THREADS   # let each mode choose the trainers' threads as it does for users
echo "machine: $(nproc) usable CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
farm-bench -n "$runs" --warmup 1 --timeout 3000 \
  --vs "sh -c 'rm -rf $work/j1 && $hsicc sweep $work/sweep.yaml -j 1 --out $work/j1 >/dev/null'" \
  -- sh -c "rm -rf $work/j2 && $hsicc sweep $work/sweep.yaml -j 2 --out $work/j2 >/dev/null"
