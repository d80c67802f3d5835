#!/bin/sh
# fuzz.sh SECONDS — builds the libFuzzer compiler target (compiler/fuzz_parser.c: the front end,
# then lowering, autodiff, planning, the scene pass and emission for what compiles) in
# build-fuzz with clang (ASan + UBSan; the stand-alone project tests/front/fuzz) and runs it for SECONDS, seeded with the shipped
# netdefs and the good and bad test netdefs. Crashers land in build-fuzz/fuzz-artifacts/;
# add each one to tests/front/bad/ with its expected message once fixed.
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz
CC=clang cmake -S "$root/tests/front/fuzz" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_parser -j2 >/dev/null
mkdir -p "$build/fuzz-corpus" "$build/fuzz-artifacts"
cp "$root"/netdefs/*.hsn "$root"/tests/front/good/*.hsn "$root"/tests/front/bad/*.hsn \
   "$build/fuzz-corpus/" 2>/dev/null || true
cd "$build"
exec ./compiler/fuzz_parser -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -dict="$root/tests/front/hsn.dict" -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/" "$build/fuzz-corpus"
