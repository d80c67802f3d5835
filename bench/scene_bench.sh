#!/usr/bin/env bash
# Whole-scene inference, side by side in one command: hsicc's compiled scene program against
# PyTorch's best of eager / channels_last / TorchScript (batch 128, zero padding, the same
# weights and pixels), SSRN and the contextual CNN on an H x W x 200 synthetic scene, and the
# machine's FMA peak. Then `predict` on a synthetic 2,000 x 1,000 x 425 int16 ENVI cube (made
# here, never committed) when LARGE=1: peak RSS and time per megapixel.
#   bench/scene_bench.sh [H W]          (default 145 145; THREADS=2; RUNS=3)
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
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for net in ssrn contextual; do
  "$build/bench/scene_bench_$net" --h "$h" --w "$w" --runs "$runs" --dump "$tmp/$net" | tee "$tmp/$net.hsicc"
  /usr/bin/python3 bench/torch_scene.py --net "$net" --threads "$threads" "$tmp/$net" | tee "$tmp/$net.torch"
  hs=$(sed -n 's/.*scene_program wall_s=\([0-9.]*\).*/\1/p' "$tmp/$net.hsicc")
  ts=$(sed -n 's/.*best mode=\([a-z_]*\) wall_s=\([0-9.]*\).*/\2 (\1)/p' "$tmp/$net.torch")
  /usr/bin/python3 -c "import sys; h=float(sys.argv[1]); t=float(sys.argv[2].split()[0]); print(f'$net: hsicc {h:.3f} s, PyTorch best {sys.argv[2]} s, ratio {t / h:.1f}x')" "$hs" "$ts"
done
