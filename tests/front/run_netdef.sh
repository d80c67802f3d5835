#!/bin/sh
# run_netdef.sh good|bad HSICC FILE.hsn — one netdef test (CTest runs one per file).
#   bad:  `hsicc check` must exit 1 (not crash) and its first error must be the `# expect:`
#         line of the file (or of FILE's .expect sibling for files that cannot hold comments):
#         "L:C: error: msg" is prefixed with the file name, "hsicc: error: ..." is verbatim;
#         every `# hint:` / `# note:` line must appear in the diagnostics as "hint: ..." etc.
#   good: `hsicc check` must exit 0 and every `# check: ...` line must appear in its output,
#         whitespace-insensitive (a layer row "name op... shape params" or a totals line),
#         and every layer row's output shape must start under the header's "output".
# Both: `# args: ...` lines are passed to hsicc check (e.g. -D bands=3).
set -u
mode=$1 hsicc=$2 f=$3
meta=$f
side="${f%.hsn}.expect"
[ -f "$side" ] && meta=$side
args=$(sed -n 's/^# args: //p' "$meta" | tr '\n' ' ')
norm() { tr -s ' \t' '  ' | sed 's/^ //; s/ $//'; }
# shellcheck disable=SC2086
out=$("$hsicc" check "$f" $args 2>&1)
rc=$?
fail() { printf 'FAIL %s: %s\n--- output (exit %s) ---\n%s\n' "$f" "$1" "$rc" "$out"; exit 1; }
[ $rc -gt 128 ] && fail "killed by signal $((rc - 128))"
if [ "$mode" = bad ]; then
    [ $rc -eq 1 ] || fail "exit status $rc, expected 1"
    expect=$(sed -n 's/^# expect: //p' "$meta" | head -n 1)
    [ -n "$expect" ] || fail "no '# expect:' line"
    case $expect in
        [0-9]*) want="$f:$expect" ;;
        hsicc:*) want=$expect ;;
        *) want="$f: $expect" ;;
    esac
    first=$(printf '%s\n' "$out" | grep -m 1 -e ': error: ' -e '^hsicc: error: ')
    [ "$first" = "$want" ] || fail "first error is
  $first
expected
  $want"
    sed -n 's/^# \(hint\|note\): /\1: /p' "$meta" | while IFS= read -r line; do
        printf '%s\n' "$out" | grep -F -q -- "$line" || { echo "missing: $line"; exit 1; }
    done || fail "a hint or note is missing"
else
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
    outn=$(printf '%s\n' "$out" | norm)
    sed -n 's/^# check: //p' "$meta" | norm | while IFS= read -r line; do
        printf '%s\n' "$outn" | grep -F -x -q -- "$line" || { echo "missing line: $line"; exit 1; }
    done || fail "a checked line is missing"
    # the layer table's columns line up: every row has its output shape ('[') at the column
    # of the header's "output", however wide the op column had to grow
    printf '%s\n' "$out" | awk '
        /^  layer  / { col = index($0, " output ") + 1; next }
        /^trainable parameters:/ { col = 0 }
        col && substr($0, col, 1) != "[" { print "misaligned: " $0; bad = 1 }
        END { exit bad }' || fail "a row of the layer table is not aligned with its header"
fi
exit 0
