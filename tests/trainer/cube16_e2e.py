#!/usr/bin/python3
"""cube16_e2e.py — the scene kept in its 16-bit samples trains exactly like the float scene.

usage: cube16_e2e.py HSICC NETDEF SYNTH_SCENE_PY WORKDIR
An SSRN trainer (hsicc build) on a small synthetic int16 ENVI scene (bench/synth_scene.py),
standardised over all pixels, trains twice with one thread: as it is (the cube compact: int16
samples standardised when a batch is extracted) and with HSICC_FLOAT_CUBE=1 (the floats of
before). Checked: the start-of-run "memory:" line says which (the scene's bytes are 2 and 4 per
sample), the weights and the test metrics are the same bytes, and the compact run's scene is half
the float one's while its arena and backend buffers are the same figures.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import check, memory_line, run as run_in, same_results  # noqa: E402

HSICC, NET, SYNTH, WORK = sys.argv[1:5]
H, W, B = 48, 85, 24   # synth_scene.py puts all 16 classes in 48 x 85


def run(args, env):
    return run_in(args, env, WORK)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("HSICC_FLOAT_CUBE", None)
    run(["/usr/bin/python3", SYNTH, os.path.join(WORK, "synth"), str(H), str(W), str(B), "--gt"], env)
    with open(os.path.join(WORK, "exp.yaml"), "w") as f:
        f.write("name: cube16\nnet: %s\ndomains: [{dataset: synth}]\n"
                "preprocess: {standardize: all, padding: reflect, patch: 7}\n"
                "split: {train: 5, val: 3}\nsolver: {type: rmsprop, lr: 3.0e-4}\n"
                "train: {batch: 16, epochs: 2}\n" % NET)
    reg = os.path.join(WORK, "synth", "registry.yaml")
    run([HSICC, "build", "exp.yaml", "-o", "trainer"], dict(env, HSICC_DATASETS=reg))
    out = {}
    for name, extra in (("int16", {}), ("float", {"HSICC_FLOAT_CUBE": "1"})):
        p = run(["./trainer", "train", "--datasets", reg, "--data", WORK, "--out", "run_" + name,
                 "--overwrite"], dict(env, **extra))
        out[name] = memory_line(p.stderr)
    n = H * W * B
    check(out["int16"][1] == "16-bit samples" and abs(out["int16"][0] - 2 * n / 1e6) < 0.06,
          "compact run: %s (want %.1f MB of 16-bit samples)" % (out["int16"], 2 * n / 1e6))
    check(out["float"][1] == "floats" and abs(out["float"][0] - 4 * n / 1e6) < 0.06,
          "HSICC_FLOAT_CUBE=1: %s (want %.1f MB of floats)" % (out["float"], 4 * n / 1e6))
    check(out["int16"][2:] == out["float"][2:], "arena / buffers differ: %s" % out)
    files = same_results(os.path.join(WORK, "run_int16"), os.path.join(WORK, "run_float"))
    check(files >= 2, "only %d result files compared" % files)
    print("ok: %d result files identical; scene %.1f MB (16-bit) vs %.1f MB (floats)"
          % (files, out["int16"][0], out["float"][0]))


main()
