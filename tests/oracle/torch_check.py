"""oracle.torch.*: a trainer's logits and gradients on trained weights, checked against PyTorch.

Trains the given trainer (built with dropout 0) for a few steps on the real data, so the weights
and the BN running statistics are no longer the initial ones, then runs `trainer forward`
(inference), `trainer forward --train-mode` and `trainer grad` on a random batch and hands the
same weights file to tests/torch/compare_logits.py (eval: logits; train: logits, loss and every
parameter gradient). It does not judge accuracy (heads.train.* does) and does not cover dropout.
--backend runs forward and grad on that backend (default: the experiment's). The CTests are in
tests/oracle/CMakeLists.txt; tests/oracle/README.md describes them and every other PyTorch oracle.
Exit status: 0 all within tolerance, 1 a failure (printed), 77 torch/numpy missing.
"""
import argparse
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
try:
    import numpy as np
    import torch  # noqa: F401  (compare_logits needs it; checked here to skip early)
except ImportError as e:
    print("torch_check: SKIP: %s (run with /usr/bin/python3, Debian python3-torch)" % e)
    sys.exit(77)
import compare_logits  # noqa: E402
import st_io  # noqa: E402
from proc import Failure, run  # noqa: E402

RUNNING = ("running_mean", "running_var")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trainer", required=True, help="a trainer built with defines.drop=0")
    ap.add_argument("--work", required=True, help="scratch folder (emptied first)")
    ap.add_argument("--set", action="append", default=[], help="trainer train --set (repeatable)")
    ap.add_argument("--backend", choices=["dnnl", "ref"], help="kernel backend of forward and grad "
                    "(default: the experiment's)")
    ap.add_argument("--n", type=int, default=8, help="batch size of the compared batch")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random batch")
    ap.add_argument("--eval-tol", type=float, nargs=2, default=[1e-4, 1e-6], metavar=("RTOL", "ATOL"))
    ap.add_argument("--train-tol", type=float, nargs=2, default=[1e-3, 1e-6], metavar=("RTOL", "ATOL"))
    ap.add_argument("net_flags", nargs=argparse.REMAINDER,
                    help="after --: compare_logits net flags (--net ssrn --bands 204 ...)")
    a = ap.parse_args(argv)
    a.net_flags = [f for f in a.net_flags if f != "--"]
    return a


def oracle(argv, want_pass):
    """compare_logits in-process (one torch import for every call)."""
    print("$ compare_logits " + " ".join(argv), flush=True)
    status = compare_logits.main(argv)
    if (status == 0) != want_pass:
        raise Failure("compare_logits exited %d; expected %s" % (status, "a pass" if want_pass
                                                                 else "a mismatch"))


def check_trained(weights):
    """The weights must hold BN running statistics that training has moved away from 0 / 1."""
    tensors, order = st_io.read(weights)
    means = [tensors[n] for n in order if n.endswith("running_mean")]
    vars_ = [tensors[n] for n in order if n.endswith("running_var")]
    if not means or not vars_:
        raise Failure("%s holds no BN running statistics" % weights)
    if not any(np.abs(m).max() > 1e-3 for m in means) or \
            not any(np.abs(v - 1).max() > 1e-3 for v in vars_):
        raise Failure("%s: the BN running statistics are still the initial ones" % weights)
    return tensors, order


def split_grads(path, names, out):
    """grad's file -> (logits, loss); writes the parameter gradients alone to `out`.

    Every trainable tensor of the weights (all but the running statistics) must have a gradient.
    """
    tensors, order = st_io.read(path)
    if "logits" not in tensors:
        raise Failure("%s has no 'logits' tensor" % path)
    with open(path, "rb") as f:  # st_io reads tensors only; the loss is in the metadata
        (hlen,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(hlen)).get("__metadata__", {})
    if "loss" not in meta:
        raise Failure("%s has no 'loss' in its metadata" % path)
    want = [n for n in names if not n.endswith(RUNNING)]
    have = [n for n in order if n != "logits"]
    if sorted(want) != sorted(have):
        raise Failure("%s: gradients %s; the weights' trainable tensors are %s"
                      % (path, sorted(set(have) ^ set(want)), len(want)))
    st_io.write(out, [(n, tensors[n]) for n in have])
    return tensors["logits"], float(meta["loss"])


def main(argv):
    a = parse_args(argv)
    w = os.path.abspath(a.work)
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    run_dir = os.path.join(w, "run")
    sets = sum((["--set", s] for s in a.set), [])
    run([a.trainer, "train", "--out", run_dir, "--runs", "1", "--quiet", "--no-download"] + sets)
    weights = os.path.join(run_dir, "run0", "best.safetensors")
    _, names = check_trained(weights)

    # a random batch shaped as the oracle's model expects, labels covering several classes
    flags = compare_logits.parse_args(a.net_flags + ["--weights", weights, "--input", "-",
                                                     "--logits", "-"])
    shape = compare_logits.torch_models.input_shape(compare_logits.build_model(flags))
    rng = np.random.RandomState(a.seed)
    p = {k: os.path.join(w, k) for k in ("x.npy", "y.npy", "eval.npy", "train.npy", "g.safetensors",
                                         "grads.safetensors", "glogits.npy")}
    np.save(p["x.npy"], rng.standard_normal((a.n,) + shape).astype(np.float32))
    np.save(p["y.npy"], (np.arange(a.n) % flags.classes).astype(np.int32))

    be = ["--backend", a.backend] if a.backend else []
    run([a.trainer, "forward", "--weights", weights, "--input", p["x.npy"], "--out", p["eval.npy"]] + be)
    run([a.trainer, "forward", "--weights", weights, "--input", p["x.npy"], "--out", p["train.npy"],
         "--train-mode"] + be)
    run([a.trainer, "grad", "--weights", weights, "--input", p["x.npy"], "--labels", p["y.npy"],
         "--out", p["g.safetensors"]] + be)
    glogits, loss = split_grads(p["g.safetensors"], names, p["grads.safetensors"])
    np.save(p["glogits.npy"], glogits)
    if not np.array_equal(glogits, np.load(p["train.npy"])):
        raise Failure("grad's logits differ from forward --train-mode's on the same batch")

    base = a.net_flags + ["--weights", weights, "--input", p["x.npy"], "--labels", p["y.npy"]]
    ev = ["--rtol", str(a.eval_tol[0]), "--atol", str(a.eval_tol[1])]
    tr = ["--rtol", str(a.train_tol[0]), "--atol", str(a.train_tol[1])]
    oracle(base + ["--logits", p["eval.npy"], "--mode", "eval"] + ev, True)
    oracle(base + ["--logits", p["glogits.npy"], "--grads", p["grads.safetensors"],
                   "--loss", repr(loss), "--mode", "train"] + tr, True)
    # the two modes must be told apart: trained running statistics are not the batch's
    oracle(base + ["--logits", p["eval.npy"], "--mode", "train"] + ev, False)
    return 0


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except (Failure, ValueError, OSError) as e:
        print("torch_check: FAIL: %s" % e)
        status = 1
    print("torch_check: %s" % ("PASS" if status == 0 else "FAIL"))
    sys.exit(status)
