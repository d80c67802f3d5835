#!/bin/sh
# An example whose cube is not here must build, then stop with one clear "not found ... fetch"
# message and exit status 1 (never a crash, never a run on missing data).
#   missing_dataset.sh HSICC EXPERIMENT WORKDIR MIRROR
set -u
hsicc=$1; exp=$2; work=$3; mirror=$4
rm -rf "$work" && mkdir -p "$work/data"
"$hsicc" build "$exp" -o "$work/trainer" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
HSICC_DATA="$work/data" HSICC_DATA_MIRROR="$mirror" "$work/trainer" train --no-download --out "$work/out" \
    > "$work/train.log" 2>&1
rc=$?
cat "$work/train.log"
[ "$rc" -eq 1 ] || { echo "expected exit status 1, got $rc"; exit 1; }
grep -q "not found" "$work/train.log" && grep -q "hsi-fetch" "$work/train.log" || {
    echo "expected a 'not found ... hsi-fetch' message"; exit 1; }
[ "$(grep -c . "$work/train.log")" -le 6 ] || { echo "expected one short message"; exit 1; }
echo ok
