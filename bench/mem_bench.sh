#!/usr/bin/env bash
# Peak memory of training, side by side in one command: hsicc's SSRN trainer and the same
# protocol in PyTorch (bench/torch_mem.py: torch_protocol.py's SSRN protocol) on a synthetic
# H x W x 200 int16 ENVI scene with 16 classes (bench/synth_scene.py): 10 training + 10
# validation pixels per class, the rest test, 7x7 patches, RMSprop, batch 16, EPOCHS epochs,
# then the test pixels classified. Prints each program's peak RSS (/usr/bin/time -v).
#   bench/mem_bench.sh [H W]        (default 145 145, the Indian Pines shape; EPOCHS=2, THREADS=2)
#   TORCH=0 bench/mem_bench.sh      (hsicc only)
#   KEEP=DIR bench/mem_bench.sh     (work in DIR and keep it: scene, trainer, outputs, logs)
# Memory does not depend on the machine's load; wall times printed alongside do.
set -euo pipefail
cd "$(dirname "$0")/.."
h=${1:-145}
w=${2:-145}
build=${BUILD:-build}
epochs=${EPOCHS:-2}
export OMP_NUM_THREADS=${THREADS:-2}
cmake --build "$build" --target hsicc hsirt -j "$(nproc)" >/dev/null
if [ -n "${KEEP:-}" ]; then tmp=$KEEP; mkdir -p "$tmp"; else tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi
tmp=$(cd "$tmp" && pwd)
/usr/bin/python3 bench/synth_scene.py "$tmp/synth" "$h" "$w" 200 --gt
cat > "$tmp/exp.yaml" <<YAML
name: mem
net: $PWD/netdefs/ssrn.hsn
domains: [{dataset: synth}]
preprocess: {standardize: all, padding: zero, patch: 7}
split: {train: 10, val: 10}
solver: {type: rmsprop, lr: 3.0e-4}
train: {batch: 16, epochs: $epochs}
YAML
HSICC_DATASETS="$tmp/synth/registry.yaml" "$build/compiler/hsicc" build "$tmp/exp.yaml" -o "$tmp/trainer" >/dev/null
peak() {   # peak LOG NAME: "NAME: peak RSS .. MB, wall .. s" from /usr/bin/time -v's log
  local rss wall
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$1")
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1")
  /usr/bin/python3 -c "import sys; w=sys.argv[2].split(':'); s=float(w[-1])+60*float(w[-2] if len(w)>1 else 0); print(f'{sys.argv[3]}: peak RSS {int(sys.argv[1])/1024:.1f} MB (wall {s:.1f} s)')" "$rss" "$wall" "$2"
}
echo "scene ${h}x${w}x200 int16, SSRN, $epochs epochs, $OMP_NUM_THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -v "$tmp/trainer" train --datasets "$tmp/synth/registry.yaml" --data "$tmp" --out "$tmp/run" \
    --quiet --overwrite > "$tmp/hsicc.log" 2> "$tmp/hsicc.time" || { cat "$tmp/hsicc.log" "$tmp/hsicc.time"; exit 1; }
peak "$tmp/hsicc.time" "hsicc  SSRN training"
if [ "${TORCH:-1}" != 0 ]; then
  (cd bench && /usr/bin/time -v /usr/bin/python3 torch_mem.py "$tmp/synth/cube.hdr" "$tmp/synth/gt.npy" \
      --epochs "$epochs" --threads "$OMP_NUM_THREADS" > "$tmp/torch.log" 2> "$tmp/torch.time") \
      || { cat "$tmp/torch.log" "$tmp/torch.time"; exit 1; }
  peak "$tmp/torch.time" "PyTorch SSRN training"
fi
