#!/usr/bin/python3
"""heads.train.*: a net with several losses (or a per-pixel loss) trained on Salinas-A.

Usage: run_heads.py TRAINER WORKDIR SHAPE WINDOW (SHAPE: the net's input, "204,5,5";
WINDOW: its per-pixel loss's label window, 0 for none). Trains one run (the experiment built into TRAINER), then
requires: the training loss of the last logged steps below 0.7 x that of the first ones (the
summed, weighted losses fall), metrics of the classification head (OA, AA, kappa, the confusion
matrix over every test pixel) with OA above 0.8 (six classes: chance is about 0.17), the maps
written, `grad` on a random batch giving a finite loss and a gradient for every trainable
tensor (each head's), label windows required by a per-pixel loss, and `predict` writing a map. Exit 0 pass, 1 fail.
"""
import csv
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from safetensors_np import read_st_meta  # noqa: E402


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(*args):
    print("$ " + " ".join(args), flush=True)
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(p.stdout[-3000:])
    if p.returncode:
        fail("exit status %d" % p.returncode)
    return p.stdout


def main(trainer, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    out = os.path.join(work, "run")
    run(trainer, "train", "--out", out, "--runs", "1", "--quiet", "--no-download")
    r0 = os.path.join(out, "run0")
    with open(os.path.join(r0, "log.csv")) as f:
        losses = [float(r["train_loss"]) for r in csv.DictReader(f) if r["train_loss"] not in ("", "nan")]
    if len(losses) < 4 or not all(math.isfinite(v) for v in losses):
        fail("log.csv: train_loss %s" % losses)
    first, last = sum(losses[:2]) / 2, sum(losses[-2:]) / 2
    print("train loss: first %.4f, last %.4f" % (first, last))
    if not last < 0.7 * first:
        fail("the training loss did not fall: %s" % losses)
    with open(os.path.join(r0, "metrics.json")) as f:
        m = json.load(f)["domains"]["salinasA"]
    cm = np.array(m["confusion"])
    print("OA %.4f AA %.4f kappa %.4f, %d test pixels" % (m["oa"], m["aa"], m["kappa"], m["test_pixels"]))
    if cm.shape != (6, 6) or cm.sum() != m["test_pixels"] or m["test_pixels"] < 5000:
        fail("confusion %s over %d test pixels" % (cm.shape, m["test_pixels"]))
    if not (m["oa"] > 0.8 and m["aa"] > 0.5 and m["kappa"] > 0.5):
        fail("metrics too low for Salinas-A: %s" % {k: m[k] for k in ("oa", "aa", "kappa")})
    for f in ("map_pred.png", "map_test.png", "curves.png", "best.safetensors"):
        if not os.path.getsize(os.path.join(r0, f)):
            fail(f + " is empty")

    # grad with the trained weights on random inputs: a finite loss and a gradient for every
    # trainable tensor, each head's included (labels: one per sample, or windows with -1)
    weights = os.path.join(r0, "best.safetensors")
    w, _ = read_st_meta(weights)
    rng = np.random.default_rng(3)
    x = rng.standard_normal([8] + SHAPE).astype(np.float32)
    y = rng.integers(0, 6, [8] + ([WINDOW, WINDOW] if WINDOW else [])).astype(np.int32)
    if WINDOW:
        y[:, 0, :] = -1   # unlabelled pixels
    np.save(os.path.join(work, "x.npy"), x)
    np.save(os.path.join(work, "y.npy"), y)
    g = os.path.join(work, "g.safetensors")
    run(trainer, "grad", "--weights", weights, "--input", os.path.join(work, "x.npy"),
        "--labels", os.path.join(work, "y.npy"), "--out", g)
    grads, meta = read_st_meta(g)
    trainable = [k for k in w if not k.endswith(("running_mean", "running_var"))]
    missing = [k for k in trainable if k not in grads or not np.abs(grads[k]).max() > 0]
    if not math.isfinite(float(meta["loss"])) or missing:
        fail("grad: loss %s, no (or zero) gradient for %s" % (meta["loss"], missing))
    if WINDOW:   # one label per sample is refused for a per-pixel loss
        np.save(os.path.join(work, "y1.npy"), y[:, 0, 0])
        p = subprocess.run([trainer, "grad", "--weights", weights, "--input", os.path.join(work, "x.npy"),
                            "--labels", os.path.join(work, "y1.npy"), "--out", g],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(p.stdout)
        if p.returncode != 1 or "[8, 5, 5]" not in p.stdout:
            fail("grad with [n] labels on a per-pixel net: exit %d" % p.returncode)
    pred = os.path.join(work, "pred")
    run(trainer, "predict", "--weights", weights, "--out", pred)
    p = np.load(os.path.join(pred, "pred.npy"))
    if p.ndim != 2 or p.min() < 0 or p.max() > 5:
        fail("predict: pred.npy %s, classes %d..%d" % (p.shape, p.min(), p.max()))
    print("grad: loss %s, %d trainable tensors; predict: %s map" % (meta["loss"], len(trainable), p.shape))
    print("PASS")


if __name__ == "__main__":
    SHAPE = [int(v) for v in sys.argv[3].split(",")]
    WINDOW = int(sys.argv[4])
    main(sys.argv[1], sys.argv[2])
