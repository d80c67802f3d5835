#!/bin/sh
# install.sh BUILD WORK CC SRC — `cmake --install` into a temporary prefix, then use only that
# prefix, moved elsewhere (so relative paths are what works):
#   1. no installed file names the source or the build folder (debug info aside);
#   2. an out-of-tree CMake project: find_package(hsicc) + hsicc_add_trainer() from a tiny
#      experiment (its own netdef, Salinas-A), and a program on hsicc::hsirt; the trainer trains
#      briefly and writes its metrics;
#   3. pkg-config --cflags --libs hsicc compiles and links the same program and one on the
#      kernels (OpenMP); neither hsicc.pc nor any program linking libhsirt links GDAL;
#   4. the installed hsicc builds an inference module (hsicc build --infer) that compiles with
#      the reference kernels alone, and --emit-only on a shipped example (../netdefs from share/);
#   5. a prefix without its runtime library: hsicc build fails with one message naming it.
set -eu
build=$1 work=$2 cc=$3 src=$4
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/staged" >"$work/install.log"
mv "$work/staged" "$work/prefix"
P=$work/prefix

# 1. source and build paths: absent from every installed file (ELF debug sections stripped
# from a copy first: a RelWithDebInfo build's DWARF names its sources legitimately)
cp -r "$P" "$work/scan"
find "$work/scan" -type f \( -name '*.a' -o -perm -u+x \) -exec strip --strip-debug {} +
if [ -n "${HSICC_SANITIZED:-}" ]; then
  echo "sanitized build (${HSICC_SANITIZED}): source locations are in the binaries; path check skipped"
else
  for d in "$src" "$build" "$(cd "$build" && pwd -P)" "$(cd "$src" && pwd -P)"; do
    if grep -rlF "$d" "$work/scan"; then
      echo "FAIL: the installed files above name $d" >&2; exit 1
    fi
  done
fi
for f in bin/hsicc bin/hsi-fetch lib/libhsirt.a include/hsicc/hsi.h lib/pkgconfig/hsicc.pc \
         lib/cmake/hsicc/hsiccConfig.cmake lib/cmake/hsicc/hsicc.cmake share/hsicc/netdefs/ssrn.hsn \
         share/hsicc/runtime/trainer_main.c share/man/man1/hsicc.1 share/man/man5/hsicc-netdef.5 \
         share/man/man5/hsicc-experiment.5 share/doc/hsicc/README.md \
         share/doc/hsicc/netdefs/zoo/README.md; do
  [ -f "$P/$f" ] || { echo "FAIL: $f not installed" >&2; exit 1; }
done
# the zoo: every netdef of the tree's netdefs/zoo/ installed, and checked by the installed hsicc
for f in "$src"/netdefs/zoo/*.hsn; do
  z=share/hsicc/netdefs/zoo/$(basename "$f")
  cmp -s "$f" "$P/$z" || { echo "FAIL: $z not installed (or not $f)" >&2; exit 1; }
  "$P/bin/hsicc" check "$P/$z" >/dev/null || { echo "FAIL: the installed hsicc cannot check $z" >&2; exit 1; }
done
"$P/bin/hsicc" --version | grep -q '^hsicc [0-9]'

# 2. the out-of-tree project
mkdir -p "$work/proj"
cat >"$work/proj/tiny.hsn" <<'NET'
net tiny(bands = 204, classes = 6, patch = 3) {
  input [bands, patch, patch]
  conv2d(8, 1) bn relu
  avgpool(global)
  dense(classes)
  loss softmax_cross_entropy
}
NET
cat >"$work/proj/tiny.yaml" <<'EXP'
name: tiny
net: tiny.hsn
domains:
  - dataset: SalinasA
    labels: {1: 0, 10: 1, 11: 2, 12: 3, 13: 4, 14: 5}
preprocess: {patch: 3}
split: {train: 5, val: 5}
solver: {type: sgd, lr: 0.01, momentum: 0.9}
train: {batch: 8, iterations: 20, val_every: 10}
outputs: {maps: false, curves: false}
EXP
cat >"$work/proj/uses.c" <<'C'
#include <stdio.h>
#include "hsi_data.h"
int main(void)
{
    char err[1024];
    hsi_registry *reg = hsi_registry_load(NULL, err, sizeof err);
    const hsi_dataset *d = reg ? hsi_registry_find(reg, "SalinasA") : NULL;
    if (!d) return fprintf(stderr, "%s\n", reg ? "no SalinasA" : err), 1;
    printf("%s bands %d classes %d\n", d->name, d->bands, d->n_classes);
    hsi_registry_free(reg);
    return 0;
}
C
cat >"$work/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(hsicc 0.1 REQUIRED)
hsicc_add_trainer(tiny EXPERIMENT tiny.yaml SET train.iterations=10 ALL)
add_executable(uses uses.c)
target_link_libraries(uses PRIVATE hsicc::hsirt)
if(NOT EXISTS "${HSICC_NETDEF_DIR}/ssrn.hsn")
  message(FATAL_ERROR "HSICC_NETDEF_DIR=${HSICC_NETDEF_DIR} has no ssrn.hsn")
endif()
CM
cmake -S "$work/proj" -B "$work/proj/build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$cc" \
      >"$work/proj.log"
cmake --build "$work/proj/build" >>"$work/proj.log"
# up to date: a second build runs nothing (a trainer in the top-level build folder used to be
# rebuilt on every make: its file has the target's name)
cmake --build "$work/proj/build" >"$work/rebuild.log" 2>&1
if grep -Eq "hsicc build|Circular" "$work/rebuild.log"; then
  cat "$work/rebuild.log"; echo "FAIL: the up-to-date trainer was built again" >&2; exit 1
fi
"$work/proj/build/uses" | tee "$work/uses.out"
grep -q '^SalinasA bands [1-9][0-9]* classes [1-9]' "$work/uses.out"
# the trainer is built by the prefix's hsicc (hsicc::hsicc)
grep -qF "$P/bin/hsicc build" "$work/proj/build/CMakeFiles/tiny.dir/build.make"
"$work/proj/build/tiny" train --out "$work/run" --data "$work/data" --quiet
[ -s "$work/run/metrics.json" ] || { echo "FAIL: the trainer wrote no metrics.json" >&2; exit 1; }
grep -q '"oa"' "$work/run/metrics.json"

# 3. pkg-config
PKG_CONFIG_PATH=$P/lib/pkgconfig
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs hsicc)
echo "pkg-config: $flags"
# shellcheck disable=SC2086
"$cc" -std=c11 "$work/proj/uses.c" -o "$work/uses-pc" $flags
"$work/uses-pc" | cmp - "$work/uses.out"
# a program on the kernels (their OpenMP objects come along: the flags must link libgomp)
cat >"$work/kern.c" <<'C'
#include <stdio.h>
#include "hsi_kernels.h"
int main(void)
{
    hsi_rt *rt = hsi_rt_create(HSI_BACKEND_REF);
    if (!rt) return 1;
    printf("backend ref %d\n", hsi_rt_backend(rt) == HSI_BACKEND_REF);
    hsi_rt_destroy(rt);
    return 0;
}
C
# shellcheck disable=SC2086
"$cc" -std=c11 "$work/kern.c" -o "$work/kern-pc" $flags
[ "$("$work/kern-pc")" = "backend ref 1" ] || { echo "FAIL: kern-pc" >&2; exit 1; }
# GDAL is loaded at run time, never linked: not in the flags, not NEEDED by what links libhsirt
case " $(pkg-config --print-requires hsicc | tr '\n' ' ') $flags " in
  *gdal*) echo "FAIL: hsicc.pc names GDAL: $flags" >&2; exit 1 ;;
esac
for exe in "$work/uses-pc" "$work/kern-pc" "$work/proj/build/uses" "$work/proj/build/tiny"; do
  if objdump -p "$exe" | grep -q 'NEEDED *libgdal'; then
    echo "FAIL: $exe links GDAL" >&2; exit 1
  fi
done

# 4. the inference module and a shipped example, from the prefix
"$P/bin/hsicc" build "$work/proj/tiny.yaml" --infer "$work/inf" >/dev/null
ls "$work/inf/hsirt" | sed 's/^/  hsirt\//' >"$work/inf.list"
cat >"$work/inf/app.c" <<'C'
#include <stdio.h>
#include "tiny_infer.h"
int main(void)
{
    int bands, classes, patch;
    tiny_shape(0, &bands, &classes, &patch);
    printf("bands %d classes %d patch %d\n", bands, classes, patch);
    return !(bands == 204 && classes == 6 && patch == 3);
}
C
"$cc" -std=c11 -O1 -I"$work/inf" -I"$work/inf/hsirt" "$work/inf/app.c" "$work/inf/tiny_infer.c" \
      $(ls "$work"/inf/hsirt/*.c | grep -v '/dnnl\.c$') -lm -lpthread -o "$work/inf/app"
"$work/inf/app"
"$P/bin/hsicc" build "$P/share/hsicc/examples/ssrn-salinasA.yaml" -o "$work/ssrn" --emit-only >/dev/null

# 5. a damaged prefix: one message naming the missing library, exit 1
cp -r "$P" "$work/broken"
rm "$work/broken/lib/libhsirt.a"
set +e
"$work/broken/bin/hsicc" build "$work/proj/tiny.yaml" -o "$work/t2" 2>"$work/broken.err"
rc=$?
set -e
cat "$work/broken.err"
[ $rc -eq 1 ] && grep -q "runtime library $work/broken/bin/../lib/libhsirt.a is missing" "$work/broken.err" \
  || { echo "FAIL: expected exit 1 and the missing library named, got $rc" >&2; exit 1; }
echo "install: ok"
