"""e2e_common.py — what the trainers' A/B end-to-end tests share (cube16_e2e.py,
bn_recompute_e2e.py): running a command, the start-of-run "memory:" line, and comparing two
run folders' result files byte for byte (JSON without its times and speeds, safetensors tensor
by tensor: their headers hold times)."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from safetensors_np import read_st  # noqa: E402


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def run(args, env, cwd):
    p = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    check(p.returncode == 0, "%s: exit %d\nstdout:\n%s\nstderr:\n%s"
          % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def memory_line(text):
    """(scene MB, its kind, activation arena MB, backend buffers MB) of the "memory:" line."""
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


def same_results(dir_a, dir_b):
    """Checks that every result file (weights, metrics, masks, confusion) under dir_a is in dir_b
    with the same contents; returns how many were compared."""
    files = 0
    for root, _, names in os.walk(dir_a):
        for nm in names:
            if not nm.endswith((".safetensors", ".json", ".npy", "confusion.csv")):
                continue
            a = os.path.join(root, nm)
            b = os.path.join(dir_b, os.path.relpath(a, dir_a))
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
    return files
