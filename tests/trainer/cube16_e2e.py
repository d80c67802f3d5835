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
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from safetensors_np import read_st  # noqa: E402

HSICC, NET, SYNTH, WORK = sys.argv[1:5]
H, W, B = 48, 85, 24   # synth_scene.py puts all 16 classes in 48 x 85


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def run(args, env):
    p = subprocess.run(args, cwd=WORK, env=env, capture_output=True, text=True, timeout=600)
    check(p.returncode == 0, "%s: exit %d\nstdout:\n%s\nstderr:\n%s"
          % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def memory_line(text):
    m = re.search(r"memory: scene ([0-9.]+) MB \(([^)]*)\), activation arena ([0-9.]+) MB, "
                  r"backend buffers ([0-9.]+) MB", text)
    check(m is not None, "no memory line in:\n" + text)
    return float(m.group(1)), m.group(2), float(m.group(3)), float(m.group(4))


def untimed(v):
    """v without the keys that hold times or speeds (wall_seconds, train_samples_per_s, ...)."""
    if isinstance(v, dict):
        return {k: untimed(x) for k, x in v.items()
                if not re.search(r"seconds|_per_s|time|date", k)}
    if isinstance(v, list):
        return [untimed(x) for x in v]
    return v


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
    files = 0
    for root, _, names in os.walk(os.path.join(WORK, "run_int16")):
        for nm in names:
            if not nm.endswith((".safetensors", ".json", ".npy", "confusion.csv")):
                continue
            a = os.path.join(root, nm)
            b = a.replace("run_int16", "run_float", 1)
            check(os.path.exists(b), b + ": missing")
            with open(a, "rb") as fa, open(b, "rb") as fb:
                da, db = fa.read(), fb.read()
            if nm.endswith(".json"):   # times and speeds differ: compare the rest
                da, db = untimed(json.loads(da)), untimed(json.loads(db))
            elif nm.endswith(".safetensors"):   # every tensor's bytes (the header holds times)
                ta, tb = read_st(a), read_st(b)
                da = {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in ta.items()}
                db = {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in tb.items()}
            check(da == db, "%s and %s differ" % (a, b))
            files += 1
    check(files >= 2, "only %d result files compared" % files)
    print("ok: %d result files identical; scene %.1f MB (16-bit) vs %.1f MB (floats)"
          % (files, out["int16"][0], out["float"][0]))


main()
