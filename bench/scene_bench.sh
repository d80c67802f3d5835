#!/usr/bin/env bash
# Whole-scene inference, side by side in one command: hsicc's compiled scene program against
# PyTorch's best of eager / channels_last / TorchScript (batch 128, zero padding, the same
# weights and pixels), SSRN and the contextual CNN on an H x W x 200 synthetic scene, and the
# machine's FMA peak. Then `predict --scene` on a synthetic H x W x 200 int16 ENVI cube, and with
# LARGE=1 on a 2,000 x 1,000 x 425 one (1.7 GB, made in a temporary folder, never committed):
# wall time, time per megapixel and peak RSS.
#   bench/scene_bench.sh [H W]          (default 145 145; THREADS=2; RUNS=3)
#   NETS= bench/scene_bench.sh          (only the predict --scene part; NETS=ssrn: one net)
#   KEEP=DIR bench/scene_bench.sh       (work in DIR and keep it: cubes, trainers, outputs)
# Needs a build (./hsi build) and /usr/bin/python3 with torch; quote only runs on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
h=${1:-145}
w=${2:-145}
build=${BUILD:-build}
threads=${THREADS:-2}
runs=${RUNS:-3}
export OMP_NUM_THREADS=$threads
cmake --build "$build" --target scene_bench_ssrn scene_bench_contextual -j "$(nproc)" >/dev/null
if [ -n "${KEEP:-}" ]; then tmp=$KEEP; mkdir -p "$tmp"; else tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for net in ${NETS-ssrn contextual}; do
  "$build/bench/scene_bench_$net" --h "$h" --w "$w" --runs "$runs" --dump "$tmp/$net" | tee "$tmp/$net.hsicc"
  /usr/bin/python3 bench/torch_scene.py --net "$net" --threads "$threads" "$tmp/$net" | tee "$tmp/$net.torch"
  hs=$(sed -n 's/.*scene_program wall_s=\([0-9.]*\).*/\1/p' "$tmp/$net.hsicc")
  ts=$(sed -n 's/.*best mode=\([a-z_]*\) wall_s=\([0-9.]*\).*/\2 (\1)/p' "$tmp/$net.torch")
  /usr/bin/python3 -c "import sys; h=float(sys.argv[1]); t=float(sys.argv[2].split()[0]); print(f'$net: hsicc {h:.3f} s, PyTorch best {sys.argv[2]} s, ratio {t / h:.1f}x')" "$hs" "$ts"
done

# ---- predict --scene on ENVI cubes: wall time, time per megapixel, peak RSS -------------------
# A synthetic int16 BSQ cube with a UTM map info and its registry entry (bench/synth_scene.py)
# and an SSRN experiment per case (the trainer reads no data for --scene; weights are `init`'s).
hsicc="$build/compiler/hsicc"
scene_case() {   # scene_case NAME H W BANDS
  local name=$1 H=$2 W=$3 B=$4 d="$tmp/$1"
  mkdir -p "$d"
  /usr/bin/python3 bench/synth_scene.py "$d" "$H" "$W" "$B"   # the cube and $d/registry.yaml
  cat > "$d/exp.yaml" <<YAML
name: $name
net: $PWD/netdefs/ssrn.hsn
domains: [{name: scene, dataset: $name}]
preprocess: {standardize: all, padding: zero, patch: 7}
split: {train: 10, val: 10}
solver: {type: rmsprop, lr: 3.0e-4}
train: {batch: 16, epochs: 1}
YAML
  HSICC_DATASETS="$d/registry.yaml" "$hsicc" build "$d/exp.yaml" -o "$d/trainer" >/dev/null
  "$d/trainer" init --out "$d/w.safetensors" >/dev/null
  /usr/bin/time -v "$d/trainer" predict --datasets "$d/registry.yaml" --weights "$d/w.safetensors" \
      --scene "$d/cube.hdr" --out "$d/out" > "$d/predict.log" 2> "$d/time.log"
  local rss wall
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$d/time.log")
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$d/time.log")
  head -1 "$d/predict.log"
  /usr/bin/python3 -c "import sys; w=sys.argv[1].split(':'); s=float(w[-1])+60*float(w[-2] if len(w)>1 else 0); mp=$H*$W/1e6; print(f'predict --scene $name ${H}x${W}x${B} int16: wall {s:.2f} s, {s/mp:.2f} s per megapixel, peak RSS {int(sys.argv[2])/1024:.1f} MB')" "$wall" "$rss"
}
scene_case synth145 "$h" "$w" 200
if [ "${LARGE:-0}" = 1 ]; then scene_case synth2000 2000 1000 425; fi
