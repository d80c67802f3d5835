#!/usr/bin/python3
"""MPI data-parallel training and scene inference (docs/MPI.md), run with Open MPI's mpirun
--oversubscribe, one OpenMP thread per rank.

usage: run_tests.py TEST HSICC MPIRUN WORK

Trainers are built here with `hsicc build --mpi` from tests/mpi/dp1.yaml (one domain) and
dp2.yaml (two domains, three phases): the contextual CNN (BN after every conv, dropout 0.5) on
Salinas-A from the data mirror. A 1-rank baseline is the MPI trainer started without mpirun.

Tolerance: 1 vs 2 ranks sum the same gradients in another order, so they agree to float
rounding, which training then carries along: we ask 1e-4 (relative; the norm of the difference
per tensor), and measured ~1e-7 on the loss curves and 1e-5 on the smallest tensors (BN shifts).
A per-rank BN instead (train.bn_sync: false) misses by > 0.05 after ONE step (test bn_local).
On oneDNN, dp1 and dp2 train with batch 32: at batch 16 (8 samples per rank) this net's training
is chaotic: two runs of ONE rank, on oneDNN and on the reference backend, agree to 3e-6 in the
weights after 2 steps and 7e-6 after 5, then differ by 1.7e-2 after 10 (a discrete jump, the same
with oneDNN's BN and with bnorm.c's, whose gradients agree with the reference to 1e-6 per step;
measured 2026-12-03), so 1 vs 2 ranks fall on either side of it by rounding alone. The reference
backend keeps batch 16 (its convolutions are slow; 1 vs 2 ranks there: 1e-5).
"""
import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from safetensors_np import read_st  # noqa: E402

TEST, HSICC, MPIRUN, WORK = sys.argv[1:5]
HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-4


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


# root in CI; containers often forbid the cross-process memory attach of Open MPI's shared-memory
# transport (ptrace): plain copies instead
ENV = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none")


def run(args, code=0, cwd=None, timeout=600):
    try:
        p = subprocess.run(args, capture_output=True, text=True, env=ENV, cwd=cwd or WORK,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("%s: still running after %d s (hangs?)" % (" ".join(args), timeout))
    if p.returncode != code:
        fail("%s: exit %d (expected %d)\nstdout:\n%s\nstderr:\n%s"
             % (" ".join(args), p.returncode, code, p.stdout, p.stderr))
    return p


def mpirun(n, *args, code=0):
    return run([MPIRUN, "--oversubscribe", "--bind-to", "none", "-x", "OMP_NUM_THREADS", "-np",
                str(n)] + list(args), code=code)


def build(exp, name, mpi=True):
    out = os.path.join(WORK, name)
    run([HSICC, "build", os.path.join(HERE, exp), "-o", out] + (["--mpi"] if mpi else []))
    return out


def read_log(path):
    with open(path) as f:
        rows = [l.strip().split(",") for l in f if l.strip()]
    cols = rows[0]
    return {c: np.array([float(r[i]) for r in rows[1:]]) for i, c in enumerate(cols)}


def rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30))


def compare_runs(d1, d2, tol, what):
    l1, l2 = read_log(os.path.join(d1, "run0", "log.csv")), read_log(os.path.join(d2, "run0", "log.csv"))
    check(len(l1["step"]) == len(l2["step"]) and (l1["step"] == l2["step"]).all(),
          "%s: log rows differ: %s vs %s" % (what, l1["step"], l2["step"]))
    check(len(l1["step"]) >= 3, "%s: only %d log rows" % (what, len(l1["step"])))
    for c in ("train_loss", "val_loss", "val_oa"):
        d = np.abs(l1[c] - l2[c]) / np.maximum(np.abs(l1[c]), 1e-6)
        check(d.max() <= tol, "%s: %s curves differ by %.3g (tolerance %g):\n1 rank  %s\n2 ranks %s"
              % (what, c, d.max(), tol, l1[c], l2[c]))
    w1 = read_st(os.path.join(d1, "run0", "last.safetensors"))
    w2 = read_st(os.path.join(d2, "run0", "last.safetensors"))
    check(sorted(w1) == sorted(w2), "%s: other tensors" % what)
    moved = 0
    for k in w1:
        if k.endswith(".bias") and np.abs(w1[k]).max() < 1e-6:
            continue   # a conv bias before BN: its gradient is zero up to rounding
        d = rel(w1[k], w2[k])
        check(d <= tol, "%s: weights %s differ by %.3g (relative norm; tolerance %g)" % (what, k, d, tol))
        moved += 1
    check(moved > 10, "%s: only %d tensors compared" % (what, moved))


def compare_logits(trainer, d1, d2, domains, tol, what):
    """forward of the same inputs with both runs' weights: the logits agree."""
    rng = np.random.default_rng(5)
    for dom, bands in domains:
        x = rng.normal(0, 1, (12, bands, 5, 5)).astype(np.float32)
        xin = os.path.join(WORK, "x_%s.npy" % dom)
        np.save(xin, x)
        outs = []
        for d in (d1, d2):
            o = os.path.join(WORK, "logits_%s_%s.npy" % (os.path.basename(d), dom))
            args = [trainer, "forward", "--weights", os.path.join(d, "run0", "last.safetensors"),
                    "--input", xin, "--out", o] + (["--domain", dom] if dom else [])
            run(args)
            outs.append(np.load(o))
        d = rel(outs[0], outs[1])
        check(d <= tol, "%s: logits of domain '%s' differ by %.3g (tolerance %g)" % (what, dom, d, tol))


def train_pair(trainer, tag, backend, extra=()):
    d1, d2 = os.path.join(WORK, tag + "1"), os.path.join(WORK, tag + "2")
    b = ["--backend", backend] + list(extra)
    run([trainer, "train", "--out", d1, "--quiet"] + b)          # no mpirun: one rank
    p = mpirun(2, trainer, "train", "--out", d2, "--quiet", *b)
    check(p.stdout.count("results in") == 1, "2 ranks: the summary must be printed once:\n" + p.stdout)
    return d1, d2


# ---- tests ------------------------------------------------------------------------------------

def t_train(backend):
    t = build("dp1.yaml", "dp1")
    # oneDNN at batch 32, like dp2: see the docstring
    d1, d2 = train_pair(t, "r", backend, ("--set", "train.batch=32") if backend == "dnnl" else ())
    compare_runs(d1, d2, TOL, "dp1 " + backend)
    compare_logits(t, d1, d2, [("", 34)], TOL, "dp1 " + backend)
    f1 = sorted(os.listdir(os.path.join(d1, "run0")))
    f2 = sorted(os.listdir(os.path.join(d2, "run0")))
    check(f1 == f2, "the 2-rank run folder holds other files: %s vs %s" % (f1, f2))
    if backend == "dnnl":
        # rank 1 in another working folder with the same relative --out: it writes nothing
        a, b = os.path.join(WORK, "wa"), os.path.join(WORK, "wb")
        os.makedirs(a)
        os.makedirs(b)
        run([MPIRUN, "--oversubscribe", "--bind-to", "none", "-x", "OMP_NUM_THREADS",
             "-np", "1", "-wdir", a, t, "train", "--out", "o", "--quiet", ":",
             "-np", "1", "-wdir", b, t, "train", "--out", "o", "--quiet"])
        check(os.path.exists(os.path.join(a, "o", "run0", "last.safetensors")), "rank 0 wrote no weights")
        check(os.listdir(b) == [], "rank 1 wrote files: %s" % os.listdir(b))


def t_domains(backend):
    t = build("dp2.yaml", "dp2")
    d1, d2 = train_pair(t, "m", backend, ["--set", "train.batch=16"] if backend == "ref" else [])
    compare_runs(d1, d2, TOL, "dp2 " + backend)
    compare_logits(t, d1, d2, [("a", 34), ("b", 17)], TOL, "dp2 " + backend)


def t_bn_local():
    t = build("dp1.yaml", "dp1")
    d1, d2 = os.path.join(WORK, "s1"), os.path.join(WORK, "s2")
    run([t, "train", "--out", d1, "--quiet", "--stop-after", "1"], code=130)
    mpirun(2, t, "train", "--out", d2, "--quiet", "--stop-after", "1", "--set", "train.bn_sync=false",
           code=130)
    w1 = read_st(os.path.join(d1, "run0", "state.safetensors"))
    w2 = read_st(os.path.join(d2, "run0", "state.safetensors"))
    d = max(rel(w1[k], w2[k]) for k in w1 if k.endswith("bank1.weight") or k.endswith("c7.weight"))
    check(d > 0.05, "per-rank BN statistics should change the first step, relative change %.3g" % d)
    with open(os.path.join(d2, "experiment.yaml")) as f:
        check("bn_sync: false" in f.read(), "experiment.yaml lost train.bn_sync: false")


def t_resume():
    t = build("dp1.yaml", "dp1")
    full, part = os.path.join(WORK, "full"), os.path.join(WORK, "part")
    mpirun(2, t, "train", "--out", full, "--quiet")
    p = mpirun(2, t, "train", "--out", part, "--quiet", "--stop-after", "7", code=130)
    check(p.stderr.count("continue with") == 1, "the stop message once:\n" + p.stderr)
    for n in (1, 3):
        p = run([t, "train", "--resume", part, "--quiet"], code=1) if n == 1 else \
            mpirun(n, t, "train", "--resume", part, "--quiet", code=1)
        msg = "written by a run on 2 MPI ranks, this one has %d: resume it with mpirun -np 2" % n
        check(p.stderr.count(msg) == 1, "resume on %d rank(s): expected once: %s\n%s" % (n, msg, p.stderr))
    mpirun(2, t, "train", "--resume", part, "--quiet")
    a = read_st(os.path.join(full, "run0", "last.safetensors"))
    b = read_st(os.path.join(part, "run0", "last.safetensors"))
    for k in a:
        check((a[k] == b[k]).all(), "resumed 2-rank run differs from the uninterrupted one in %s" % k)
    # a 1-process state refuses 2 ranks too
    one = os.path.join(WORK, "one")
    run([t, "train", "--out", one, "--quiet", "--stop-after", "3"], code=130)
    p = mpirun(2, t, "train", "--resume", one, "--quiet", code=1)
    check("written by a run on 1 MPI rank, this one has 2: resume it with one process" in p.stderr,
          "resume of a 1-process state on 2 ranks:\n" + p.stderr)


def t_predict():
    t = build("dp1.yaml", "dp1")
    w = os.path.join(WORK, "w")
    run([t, "train", "--out", w, "--quiet"])
    weights = os.path.join(w, "run0", "last.safetensors")
    p1, p2 = os.path.join(WORK, "p1"), os.path.join(WORK, "p2")
    run([t, "predict", "--weights", weights, "--out", p1, "--save-cube"])
    p = mpirun(2, t, "predict", "--weights", weights, "--out", p2)
    check(p.stdout.count("pred.npy") == 1, "2-rank predict: one line from rank 0:\n" + p.stdout)
    a, b = np.load(os.path.join(p1, "pred.npy")), np.load(os.path.join(p2, "pred.npy"))
    check(a.shape == b.shape and (a == b).all(), "2-rank predict differs in %d pixels" % (a != b).sum())
    check(a.min() >= 0, "pixels left unclassified")
    # --scene: the preprocessed cube as an ENVI file, bands of rows per rank
    cube = np.load(os.path.join(p1, "cube.npy"))
    bands, h, w_ = cube.shape
    cube.astype("<f4").tofile(os.path.join(WORK, "scene.raw"))
    with open(os.path.join(WORK, "scene.hdr"), "w") as f:
        f.write("ENVI\nsamples = %d\nlines = %d\nbands = %d\nheader offset = 0\ndata type = 4\n"
                "interleave = bsq\nbyte order = 0\n" % (w_, h, bands))
    s1, s2, s3 = (os.path.join(WORK, s) for s in ("s1", "s2", "s3"))
    hdr = os.path.join(WORK, "scene.hdr")
    opts = ["--weights", weights, "--scene", hdr, "--no-standardize", "--prob", "--confidence"]
    run([t, "predict", "--out", s1] + opts)
    mpirun(2, t, "predict", "--out", s2, *opts)
    mpirun(3, t, "predict", "--out", s3, *opts)
    ref = np.load(os.path.join(s1, "pred.npy"))
    check((ref == a).all(), "predict --scene (1 rank) differs from predict")
    from osgeo import gdal
    for s in (s2, s3):
        check(sorted(os.listdir(s)) == sorted(os.listdir(s1)), "other files: %s" % os.listdir(s))
        b = np.load(os.path.join(s, "pred.npy"))
        check((b == ref).all(), "%s: predict --scene differs in %d pixels" % (s, (b != ref).sum()))
        for f in ("map.tif", "prob.tif", "confidence.tif"):
            x = gdal.Open(os.path.join(s1, f)).ReadAsArray()
            y = gdal.Open(os.path.join(s, f)).ReadAsArray()
            check(x.shape == y.shape and np.abs(x.astype(np.float64) - y).max() <= 1e-6,
                  "%s/%s differs from 1 rank's" % (s, f))


def t_bad():
    t = build("dp1.yaml", "dp1")
    plain = build("dp1.yaml", "dp1-plain", mpi=False)
    p = mpirun(2, plain, "train", "--out", os.path.join(WORK, "x"), "--quiet", code=1)
    msg = "this trainer was built without MPI but runs as one of 2 processes"
    check(p.stderr.count(msg) == 1, "non-MPI trainer under mpirun: expected once: %s\n%s" % (msg, p.stderr))
    check(not os.path.exists(os.path.join(WORK, "x")), "the non-MPI trainers wrote files")
    p = run([MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", "1", t, "train", "--out", "y",
             "--quiet", "--set", "solver.lr=0.1", ":", "-np", "1", t, "train", "--out", "y",
             "--quiet"], code=1)
    check(p.stderr.count("the MPI ranks disagree: 1 of the 2 were started with another") == 1,
          "ranks that disagree:\n" + p.stderr)
    p = mpirun(2, t, "train", "--out", os.path.join(WORK, "z"), "--quiet", "--set", "train.batch=1",
               code=1)
    check("train.batch is 1 but the trainer runs as 2 MPI ranks" in p.stderr, "batch < ranks:\n" + p.stderr)
    p = mpirun(2, t, "train", "--out", os.path.join(WORK, "z"), "--quiet", "--set",
               "train.bn_sync=maybe", code=1)
    check(p.stderr.count("key 'train.bn_sync': expected true or false") == 1,
          "a bad train.bn_sync, said once:\n" + p.stderr)


def t_rank_fails():
    """One rank alone meets an error or has other arguments. A rank that failed its arguments
    (a usage error, --help, --stop-after on it alone) or its experiment (--resume DIR it cannot
    read) went its own way before the first collective: the others waited in it for ever, or
    the job died in MPI ("message truncated"). A rank that alone could not load its data ended
    the job with status 1 and no message. Now: one error, status 1, at once."""
    t = build("dp1.yaml", "dp1")
    base = [MPIRUN, "--oversubscribe", "--bind-to", "none", "-x", "OMP_NUM_THREADS"]
    args = ["train", "--out", "o", "--quiet", "--set", "train.iterations=200"]
    for extra in (["--stop-after", "3"], ["--help"], ["--bogus"]):
        p = run(base + ["-np", "1", t] + args + [":", "-np", "1", t] + args + extra, code=1,
                timeout=60)
        msg = "the MPI ranks disagree: 1 of the 2 were started with another command line"
        check(p.stderr.count(msg) == 1, "%s on rank 1 alone:\n%s" % (extra, p.stderr))
    # rank 1 cannot read the training it is to resume (another working directory)
    part = os.path.join(WORK, "part")
    mpirun(2, t, "train", "--out", part, "--quiet", "--stop-after", "2", code=130)
    os.makedirs(os.path.join(WORK, "elsewhere"))
    one = ["train", "--resume", "part", "--quiet"]
    p = run(base + ["-np", "1", t] + one + [":", "-np", "1", "sh", "-c",
                                          'cd elsewhere && exec "$0" "$@"', t] + one,
            code=1, timeout=60)
    check(p.stderr.count("rank 1: --resume part: no training to resume there") == 1,
          "rank 1 without the run folder:\n" + p.stderr)
    # rank 1 alone finds no data: said by rank 1
    empty = os.path.join(WORK, "nodata")
    os.makedirs(empty)
    p = run(base + ["-np", "1", t, "train", "--out", "d", "--quiet", "--no-download", ":", "-np",
                    "1", "env", "-u", "HSICC_DATA_MIRROR", "HSICC_DATA=" + empty, t, "train",
                    "--out", "d", "--quiet", "--no-download"], code=1, timeout=60)
    check("rank 1: dataset 'SalinasA' not found in " + empty in p.stderr,
          "rank 1's missing data, unsaid:\n" + p.stderr)
    # predict --scene: rank 1 cannot read the weights (relative path, another directory); it
    # returned before the first collective and the job died in MPI_Allreduce (truncated)
    run([t, "init", "--out", "w.safetensors"], cwd=WORK)
    np.random.default_rng(0).random((34, 9, 8)).astype("<f4").tofile(os.path.join(WORK, "sc.raw"))
    with open(os.path.join(WORK, "sc.hdr"), "w") as f:
        f.write("ENVI\nsamples = 8\nlines = 9\nbands = 34\nheader offset = 0\ndata type = 4\n"
                "interleave = bsq\nbyte order = 0\n")
    pr = ["predict", "--weights", "w.safetensors", "--scene", os.path.join(WORK, "sc.hdr"),
          "--out", "ps", "--no-standardize"]
    p = run(base + ["-np", "1", t] + pr + [":", "-np", "1", "sh", "-c", 'cd elsewhere && exec "$0" "$@"',
                                         t] + pr, code=1, timeout=60)
    check("rank 1: w.safetensors: cannot open: No such file or directory" in p.stderr and
          "MPI_ERR" not in p.stderr, "predict --scene, rank 1 without the weights:\n" + p.stderr)


TESTS = {"train_ref": lambda: t_train("ref"), "train_dnnl": lambda: t_train("dnnl"),
         "domains_ref": lambda: t_domains("ref"), "domains_dnnl": lambda: t_domains("dnnl"),
         "bn_local": t_bn_local, "resume": t_resume, "predict": t_predict, "bad": t_bad,
         "rank_fails": t_rank_fails}

if __name__ == "__main__":
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    TESTS[TEST]()
    print("ok")
