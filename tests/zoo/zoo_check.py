"""zoo.*: the netdefs/zoo/ models against their PyTorch ports (tests/zoo/torch_zoo.py).

  zoo_check.py params --hsicc HSICC --netdefs DIR MODEL...
      every port's count equals the issue's figure (torch_zoo.py); for each MODEL, `hsicc check
      DIR/MODEL.hsn` at Indian Pines shapes (the model's own patch; HybridSN also at 30 bands)
      gives the port's trainable parameter count.
  zoo_check.py logits --trainer T --work DIR --model M --bands B --classes K [--patch P]
      random weights (the trainer's `init` file, every tensor redrawn: weights of unit gain,
      biases, BN affine and running statistics away from their initial values) and a random
      batch: `T forward` (eval mode) on both backends (oneDNN on the batch of 4, the reference
      kernels on its first 2 samples) against the port through tests/torch/compare_logits.py, within 1e-4 of the largest logit. With --grads (nets without dropout) also `T grad` in
      training mode on the same batch: logits, the loss (with a reconstruction head the weighted
      total) and every parameter's gradient within 1e-3 of the tensor's largest value.
  zoo_check.py train --trainer T --work DIR [--set k=v ...]
      `T train` on Salinas-A ($HSICC_DATA_MIRROR) for the experiment's few iterations, on a split
      of 4 training and 2 test pixels per class: a finite loss every step, metrics.json with
      OA / AA / kappa over the 12 test pixels.
Exit status: 0 pass, 1 a failure (printed), 77 torch/numpy missing.
"""
import argparse
import json
import math
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
try:
    import numpy as np
    import scipy.io
    if sys.argv[1:2] != ["train"]:     # train needs no torch (its import costs seconds)
        import torch
        import compare_logits
        import torch_zoo
        sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
        from torch_check import split_grads
except ImportError as e:
    print("zoo_check: SKIP: %s (run with /usr/bin/python3, Debian python3-torch)" % e)
    sys.exit(77)
import st_io  # noqa: E402
from proc import Failure, run  # noqa: E402

MODELS = ("hu", "hamida", "lee", "chen", "li", "he", "luo", "sharma", "liu", "boulch", "mou",
          "hybridsn")                  # torch_zoo.MODELS, without importing torch

# Salinas-A's classes (raw gt ids, tests/zoo/salinasA.yaml's labels)
SALINAS_A = (1, 10, 11, 12, 13, 14)


BIG = 1 << 22


def params(a):
    """Every port's count against the issue's figures, then hsicc check against the port for
    each model given (at Indian Pines shapes, each model's own patch; HybridSN also at 30 PCA
    components)."""
    if tuple(torch_zoo.MODELS) != MODELS:
        raise Failure("zoo_check.MODELS %s is not torch_zoo.MODELS %s" % (MODELS, tuple(torch_zoo.MODELS)))
    if not torch_zoo.check_counts():
        raise Failure("a PyTorch port's parameter count is not the issue's figure")
    bad = []
    cases = [(m, 200, 16) for m in a.models]
    if "hybridsn" in a.models:
        cases.append(("hybridsn", 30, 16))
    for m, bands, classes in cases:
        patch = torch_zoo.PATCH[m]
        out = run([a.hsicc, "check", os.path.join(a.netdefs, m + ".hsn"), "-D", "bands=%d" % bands,
                   "-D", "classes=%d" % classes, "-D", "patch=%d" % patch])
        found = re.search(r"^trainable parameters: ([\d,]+)$", out, re.M)
        if not found:
            raise Failure("no 'trainable parameters:' line in hsicc check's output:\n" + out)
        got = int(found.group(1).replace(",", ""))
        want = torch_zoo.count_trainable(torch_zoo.build(m, bands, classes, patch))
        print("%-9s bands %3d classes %d patch %2d: hsicc %11s, PyTorch %11s  %s"
              % (m, bands, classes, patch, format(got, ","), format(want, ","),
                 "ok" if got == want else "FAIL"))
        if got != want:
            bad.append(m)
    if bad:
        raise Failure("hsicc's trainable parameter count differs from PyTorch's: %s" % ", ".join(bad))


def redraw(tensors, order, rng):
    """Every tensor redrawn: weights uniform with unit gain (variance 1 / fan_in, so activations
    keep their scale through any depth), biases and BN betas N(0, 0.1), gammas U(0.5, 1.5), running
    means N(0, 0.2), running variances U(0.5, 2). A weight of more than BIG elements (Luo's FC1)
    keeps the trainer's seeded initial values (He-uniform: random with unit gain already)."""
    out = []
    for n in order:
        t = tensors[n]
        leaf = n.rsplit(".", 1)[-1]
        if t.size > BIG:
            v = t
        elif leaf == "running_var":
            v = rng.uniform(0.5, 2.0, t.shape)
        elif leaf == "running_mean":
            v = rng.normal(0.0, 0.2, t.shape)
        elif t.ndim == 1 and leaf == "weight":                 # BN gamma
            v = rng.uniform(0.5, 1.5, t.shape)
        elif t.ndim == 1:                                      # bias, BN beta
            v = rng.normal(0.0, 0.1, t.shape)
        else:
            fan_in = t.size // t.shape[0]
            v = rng.uniform(-1.0, 1.0, t.shape) * math.sqrt(3.0 / fan_in)
        out.append((n, v.astype(np.float32)))
    return out


def logits(a):
    w = os.path.abspath(a.work)
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    p = {k: os.path.join(w, k) for k in ("init.safetensors", "w.safetensors", "x.npy")}
    run([a.trainer, "init", "--out", p["init.safetensors"]])
    tensors, order = st_io.read(p["init.safetensors"])
    rng = np.random.RandomState(a.seed)
    st_io.write(p["w.safetensors"], redraw(tensors, order, rng))
    del tensors

    patch = torch_zoo.PATCH[a.model] if a.patch is None else a.patch
    flags = ["--net", a.model, "--bands", str(a.bands), "--classes", str(a.classes),
             "--patch", str(patch)]
    shape = tuple(torch_zoo.build(a.model, a.bands, a.classes, patch).shape)
    np.save(p["x.npy"], rng.standard_normal((a.n,) + shape).astype(np.float32))
    # both backends; the reference kernels (naive loops: minutes for Chen and Luo at batch 4)
    # on the first 2 samples
    xs = {"dnnl": p["x.npy"], "ref": os.path.join(w, "x2.npy")}
    np.save(xs["ref"], np.load(p["x.npy"])[:2])
    for be in ("dnnl", "ref"):
        lb = os.path.join(w, "l_%s.npy" % be)
        run([a.trainer, "forward", "--backend", be, "--weights", p["w.safetensors"], "--input",
             xs[be], "--out", lb])
        argv = flags + ["--weights", p["w.safetensors"], "--input", xs[be], "--logits", lb,
                        "--mode", "eval", "--rtol", "1e-4", "--atol", "0"]
        print("$ compare_logits " + " ".join(argv) + "   # backend " + be, flush=True)
        if compare_logits.main(argv) != 0:
            raise Failure("the emitted net's logits (backend %s) differ from the PyTorch port's" % be)
    if a.grads:
        # training mode (batch statistics) on the same batch: the loss (with a reconstruction
        # head: the weighted total) and every parameter's gradient
        for k in ("y.npy", "g.safetensors", "grads.safetensors", "glogits.npy"):
            p[k] = os.path.join(w, k)
        np.save(p["y.npy"], (np.arange(a.n) % a.classes).astype(np.int32))
        run([a.trainer, "grad", "--weights", p["w.safetensors"], "--input", p["x.npy"],
             "--labels", p["y.npy"], "--out", p["g.safetensors"]])
        names = st_io.read(p["w.safetensors"])[1]
        glogits, loss = split_grads(p["g.safetensors"], names, p["grads.safetensors"])
        np.save(p["glogits.npy"], glogits)
        argv = flags + ["--weights", p["w.safetensors"], "--input", p["x.npy"], "--labels",
                        p["y.npy"], "--logits", p["glogits.npy"], "--grads", p["grads.safetensors"],
                        "--loss", repr(loss), "--mode", "train", "--rtol", "1e-3", "--atol", "1e-6"]
        print("$ compare_logits " + " ".join(argv), flush=True)
        if compare_logits.main(argv) != 0:
            raise Failure("the emitted net's training-mode loss or gradients differ from PyTorch's")
    if not a.keep:
        shutil.rmtree(w, ignore_errors=True)


def small_split(path, n_train, n_test, seed):
    """A split of Salinas-A as a masks.npy: n_train training and n_test test pixels per class
    (seeded), every other pixel unused, so that the test pass of the heavy models stays short."""
    mirror = os.environ.get("HSICC_DATA_MIRROR")
    if not mirror:
        raise Failure("HSICC_DATA_MIRROR is not set (the folder holding SalinasA/)")
    gt_file = os.path.join(mirror, "SalinasA", "SalinasA_gt.mat")
    mat = scipy.io.loadmat(gt_file)
    keys = [k for k in mat if not k.startswith("_")]
    if len(keys) != 1:
        raise Failure("%s: expected one array, found %s" % (gt_file, keys))
    gt = mat[keys[0]]
    rng = np.random.RandomState(seed)
    masks = np.zeros(gt.shape, np.int8)
    for c in SALINAS_A:
        pick = rng.choice(np.flatnonzero(gt == c), n_train + n_test, replace=False)
        masks.flat[pick[:n_train]] = 1
        masks.flat[pick[n_train:]] = 3
    np.save(path, masks)


def train(a):
    w = os.path.abspath(a.work)
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    out = os.path.join(w, "run")
    masks = os.path.join(w, "masks.npy")
    small_split(masks, 4, 2, 0)
    sets = sum((["--set", s] for s in a.set + ["split={masks: %s}" % masks]), [])
    run([a.trainer, "train", "--out", out, "--data", os.path.join(w, "data"), "--quiet",
         "--no-download"] + sets)
    with open(os.path.join(out, "run0", "metrics.json")) as f:
        m = json.load(f)
    with open(os.path.join(out, "run0", "log.csv")) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    head, rows = rows[0], rows[1:]
    losses = [float(r[head.index("train_loss")]) for r in rows]
    test = m["domains"][m["domain"]]["test_pixels"]
    print("steps %d, train loss %s, OA %.4f AA %.4f kappa %.4f on %d test pixels"
          % (m["steps"], losses, m["oa"], m["aa"], m["kappa"], test))
    if m["steps"] < 1 or not losses or not all(math.isfinite(x) and x > 0 for x in losses):
        raise Failure("no finite positive training loss logged: %s" % losses)
    if not (0 <= m["oa"] <= 1 and 0 <= m["aa"] <= 1 and -1 <= m["kappa"] <= 1):
        raise Failure("metrics out of range: OA %r AA %r kappa %r" % (m["oa"], m["aa"], m["kappa"]))
    if test != 2 * len(SALINAS_A):
        raise Failure("%d test pixels classified; the split has %d" % (test, 2 * len(SALINAS_A)))
    shutil.rmtree(w, ignore_errors=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("params")
    pp.add_argument("--hsicc", required=True)
    pp.add_argument("--netdefs", required=True, help="the folder of the zoo's netdefs")
    pp.add_argument("models", nargs="+", choices=list(MODELS))
    lp = sub.add_parser("logits")
    lp.add_argument("--trainer", required=True)
    lp.add_argument("--work", required=True)
    lp.add_argument("--n", type=int, default=4, help="batch size")
    lp.add_argument("--seed", type=int, default=0)
    lp.add_argument("--keep", action="store_true", help="keep the work folder")
    lp.add_argument("--grads", action="store_true",
                    help="also the training-mode loss and gradients (nets without dropout)")
    lp.add_argument("--model", choices=list(MODELS), required=True)
    lp.add_argument("--bands", type=int, default=200)
    lp.add_argument("--classes", type=int, default=16)
    lp.add_argument("--patch", type=int)
    tp = sub.add_parser("train")
    tp.add_argument("--trainer", required=True)
    tp.add_argument("--work", required=True)
    tp.add_argument("--set", action="append", default=[])
    a = ap.parse_args(argv)
    if a.cmd != "train":
        torch.set_num_threads(2)
    {"params": params, "logits": logits, "train": train}[a.cmd](a)
    print("zoo_check %s: PASS" % a.cmd)
    return 0


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except (Failure, ValueError, OSError, KeyError) as e:
        print("zoo_check: FAIL: %s" % e)
        status = 1
    sys.exit(status)
