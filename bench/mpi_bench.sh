#!/usr/bin/env bash
# mpi_bench.sh — training throughput of an MPI trainer with 1, 2, ... ranks (docs/MPI.md).
#   bench/mpi_bench.sh [EXPERIMENT.yaml] [RANKS...]      default: tests/mpi/dp1.yaml, 1 2
# Builds the trainer with hsicc build --mpi, trains the experiment (ITERS iterations, default 200) with each
# rank count, 1 OpenMP thread per rank, and prints the samples per second from metrics.json.
# Run it on an IDLE machine with at least as many cores as the largest rank count: on a loaded
# or oversubscribed machine the figures mean nothing (it is not part of the tests).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
exp=${1:-$here/tests/mpi/dp1.yaml}
shift || true
ranks=${*:-1 2}
hsicc=${HSICC:-$here/build/compiler/hsicc}
work=$(mktemp -d /tmp/mpi_bench.XXXXXX)
[ -n "${HSICC_DATA_MIRROR:-}" ] || { [ -d "$here/../shared/data" ] && export HSICC_DATA_MIRROR="$here/../shared/data"; }
export OMP_NUM_THREADS=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$hsicc" build "$exp" -o "$work/trainer" --mpi --set train.iterations=${ITERS:-200} --set train.val_every=${ITERS:-200} >/dev/null
printf "%-6s %12s %10s\n" ranks samples/s wall_s
for n in $ranks; do
  out="$work/r$n"
  mpirun --bind-to core -x OMP_NUM_THREADS -np "$n" "$work/trainer" train --out "$out" --quiet >/dev/null
  /usr/bin/python3 - "$out/metrics.json" "$n" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print("%-6s %12.1f %10.1f" % (sys.argv[2], m["train_samples_per_s"], m["wall_seconds"]))
PY
done
rm -rf "$work"
