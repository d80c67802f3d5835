# embed_experiment.cmake — the experiment C file of a test trainer (what `hsicc build` generates
# for real trainers): hsi_embedded_experiment[] = the YAML bytes, hsi_embedded_experiment_path[].
# Usage: cmake -DIN=exp.yaml -DOUT=exp.c -P embed_experiment.cmake
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}.tmp "/* Generated from ${IN}: do not edit. */\n"
     "const char hsi_embedded_experiment[] = {${bytes}0x00};\n"
     "const char hsi_embedded_experiment_path[] = \"${IN}\";\n")
file(RENAME ${OUT}.tmp ${OUT})
