#!/bin/sh
# fuzz.sh SECONDS [TARGET...] — the runtime's file readers under libFuzzer (fuzz_readers.c):
# builds libhsirt with clang, ASan + UBSan and fuzzer instrumentation in build-rfuzz, links
# fuzz_readers, writes the seed corpus (seeds.py) and fuzzes each TARGET (default: all) for
# SECONDS, one after another. Crashers land in build-rfuzz/fuzz-artifacts/TARGET/; add each
# one to tests/bad/ (a case that fails on the code before the fix) once fixed.
set -eu
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-npy mat st weights envi registry experiment json georef}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-rfuzz
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHSICC_SANITIZE=address,undefined,fuzzer-no-link >/dev/null
cmake --build "$build" --target hsirt -j2 >/dev/null
clang -g -O1 -fopenmp -fsanitize=fuzzer,address,undefined -I"$root/runtime/include" \
    "$root/tests/fuzz_io/fuzz_readers.c" "$build/runtime/libhsirt.a" \
    -lyaml -lmatio -lpng -lz -ldnnl -lcurl -lm -ldl -lpthread -o "$build/fuzz_readers"
rm -rf "$build/fuzz-seeds"
/usr/bin/python3 "$root/tests/fuzz_io/seeds.py" "$build/fuzz-seeds"
cd "$build"
status=0
for t in $targets; do
    mkdir -p "fuzz-corpus/$t" "fuzz-artifacts/$t"
    len=4096 malloc=3072
    case $t in registry|experiment) len=16384 ;; esac
    # matio allocates what a variable's header declares (8 GB for a 360-byte file) before
    # reading, and leaves it untouched when the data is not there: not a leak of ours, but
    # libFuzzer's malloc limit would stop every mat run on it
    case $t in mat) malloc=20000 ;; esac
    HSI_FUZZ_TARGET=$t ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        ./fuzz_readers -max_total_time="$secs" -max_len=$len -timeout=10 -rss_limit_mb=3072 \
        -malloc_limit_mb=$malloc -print_final_stats=1 -artifact_prefix="fuzz-artifacts/$t/" \
        "fuzz-corpus/$t" "fuzz-seeds/$t" || status=1
done
exit $status
