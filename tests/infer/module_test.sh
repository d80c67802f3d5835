#!/usr/bin/env bash
# An inference module leaves the trainer: train SSRN on Salinas-A briefly, `predict` the whole
# scene (--save-cube), then `hsicc build --infer` (weights from a file, and embedded), compile a
# consumer OUT OF TREE with a C compiler and the module's hsirt/ alone (reference kernels), and
# with oneDNN, and check the consumer's map against predict's, pixel for pixel.
#   module_test.sh HSICC TRAINER EXPERIMENT SRCDIR WORKDIR
set -euo pipefail
hsicc=$1 trainer=$2 exp=$3 src=$4 work=$5
cc=${CC:-cc}
rm -rf "$work"
mkdir -p "$work"
cd "$work"
"$trainer" train --out run --runs 1 --quiet --set train.epochs=3 --set outputs.maps=false > train.log
w=run/run0/best.safetensors
"$trainer" predict --weights "$w" --masks run/run0 --out pred --save-cube > predict.log
"$hsicc" build "$exp" --infer mod > emit.log
"$hsicc" build "$exp" --infer emb --weights "$w" > emit_embedded.log
net=$(ls mod/*_infer.h | sed 's|mod/\(.*\)_infer.h|\1|')
build() {   # build DIR NAME [dnnl]
  local files=("$1/${net}_infer.c" "$src/tests/infer/consumer.c")
  for f in "$1"/hsirt/*.c; do
    [ "$(basename "$f")" = dnnl.c ] && [ -z "${3:-}" ] && continue
    files+=("$f")
  done
  local flags=(-std=c11 -O2 -Wall -I"$1" -I"$1/hsirt" -DSTEM="$net" -DHEADER="\"${net}_infer.h\"")
  [ -n "${3:-}" ] && flags+=(-DHSICC_WITH_DNNL=1)
  "$cc" "${flags[@]}" "${files[@]}" -o "$2" -lm -lpthread ${3:+-ldnnl}
}
build mod consumer_ref
build mod consumer_dnnl dnnl
build emb consumer_emb_ref
./consumer_ref "$w" pred/cube.npy pred/pred.npy 0 patches 0
./consumer_emb_ref - pred/cube.npy pred/pred.npy 0 patches 0
./consumer_dnnl "$w" pred/cube.npy pred/pred.npy 1 scene 0
# a file that is not a weights file is refused with one clear message
if ./consumer_ref /dev/null pred/cube.npy pred/pred.npy 0 patches 0 2> bad.log; then
  echo "a bad weights file was accepted"; exit 1
fi
cat bad.log
echo "module test passed"
