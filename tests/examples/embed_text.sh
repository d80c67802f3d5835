#!/bin/sh
# embed_text.sh HSICC EXAMPLE.yaml WORKDIR CC INCLUDE — the experiment text embedded by
# `hsicc build` is byte for byte the file, also with "??/" and "??=" in it (trigraphs under
# -std=c11: the trainer used to embed "what\ and # and [" for "what??/ and ??= and ??(").
set -eu
hsicc=$1 example=$2 work=$3 cc=$4 inc=$5
rm -rf "$work" && mkdir -p "$work"
net=$(cd "$(dirname "$example")" && cd "$(dirname "$(sed -n 's/^net: //p' "$example")")" && pwd)
sed -e 's/^name: .*/name: embed-text\ndescription: "what??\/ and ??= and ??( \\\\ \\" tab\tend"/' \
    -e "s#^net: .*/#net: $net/#" "$example" > "$work/e.yaml"
grep -q 'what??/' "$work/e.yaml"
"$hsicc" build "$work/e.yaml" -o "$work/t" --emit-only >/dev/null
stem=$(sed -n 's/^const hsi_netdesc \*const hsi_trainer_net = &\(.*\)_net;$/\1/p' "$work/t.src/experiment.c")
printf '#include <stdio.h>\n#include "hsi.h"\nconst hsi_netdesc %s_net;\nextern const char hsi_embedded_experiment[];\nint main(void) { fputs(hsi_embedded_experiment, stdout); return 0; }\n' "$stem" > "$work/m.c"
"$cc" -std=c11 -I"$inc" -I"$work/t.src" "$work/m.c" "$work/t.src/experiment.c" -o "$work/m"
"$work/m" > "$work/got.yaml"
cmp "$work/got.yaml" "$work/e.yaml"
