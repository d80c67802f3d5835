#!/usr/bin/python3
"""run_tests.py — end-to-end tests of the trainer CLI with the hand-written tiny nets.

usage: run_tests.py TEST TRAINER_TINY TRAINER_TINY2 WORKDIR
Each test makes synthetic scenes (the class is a linear function of the spectrum: mechanics
only, not learning power), runs the trainer binaries and checks their files. Exit 0 = pass.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from safetensors_np import read_st_meta as read_st  # noqa: E402

TEST, TINY, TINY2, WORK = sys.argv[1:5]
DATA = os.path.join(WORK, "data")
REG = os.path.join(WORK, "datasets.yaml")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def make_scene(name, h, w, bands, classes, seed):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1, (classes, bands))
    r, c = np.mgrid[0:h, 0:w]
    lab = 1 + ((r // 6) + (c // 6)) % classes
    lab[(r * 7 + c * 3) % 11 == 0] = 0
    cube = means[np.maximum(lab - 1, 0)] + 0.5 * rng.normal(0, 1, (h, w, bands))
    os.makedirs(os.path.join(DATA, name), exist_ok=True)
    np.save(os.path.join(DATA, name, "cube.npy"), cube.astype(np.float32))
    np.save(os.path.join(DATA, name, "gt.npy"), lab.astype(np.int32))
    cls = "\n".join("      - {id: %d, name: c%d}" % (k + 1, k + 1) for k in range(classes))
    return ("  - name: %s\n    bands: %d\n    shape: [%d, %d]\n    ignored: [0]\n"
            "    cube: {file: cube.npy}\n    gt: {file: gt.npy}\n    classes:\n%s\n"
            % (name, bands, h, w, cls))


def setup():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    reg = "datasets:\n" + make_scene("Synth6", 24, 24, 6, 3, 1) + make_scene("Synth4", 20, 20, 4, 2, 2)
    with open(REG, "w") as f:
        f.write(reg)


def run(binary, *args, code=0, env=None, timeout=300):
    e = dict(os.environ, HSICC_DATASETS=REG, HSICC_DATA=DATA)
    e.pop("HSICC_DATA_MIRROR", None)
    if env:
        e.update(env)
    try:
        p = subprocess.run([binary] + list(args), capture_output=True, text=True, env=e, cwd=WORK,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("%s %s: still running after %d s (hangs?)" % (os.path.basename(binary), " ".join(args),
                                                           timeout))
    if p.returncode != code:
        fail("%s %s: exit %d (expected %d)\nstdout:\n%s\nstderr:\n%s"
             % (os.path.basename(binary), " ".join(args), p.returncode, code, p.stdout, p.stderr))
    return p


def load_json(path):
    with open(path) as f:
        return json.load(f)


def read_log(path):
    with open(path) as f:
        lines = f.read().strip().split("\n")
    cols = lines[0].split(",")
    return cols, [dict(zip(cols, l.split(","))) for l in lines[1:]]


# ---- tests ---------------------------------------------------------------------------------------

def t_train():
    out = os.path.join(WORK, "out")
    p = run(TINY, "train", "--out", out)
    check("OA " in p.stdout and "samples/s" in p.stdout, "summary line missing:\n" + p.stdout)
    m = load_json(os.path.join(out, "metrics.json"))
    check(m["oa"] > 0.9, "OA %.3f <= 0.9 on a linearly separable scene" % m["oa"])
    rd = os.path.join(out, "run0")
    for f in ["metrics.json", "log.csv", "confusion.csv", "map_gt.png", "map_pred.png",
              "map_test.png", "curves.png", "masks.npy", "best.safetensors", "state.safetensors"]:
        check(os.path.isfile(os.path.join(rd, f)), "run0/%s missing" % f)
    check(os.path.isfile(os.path.join(out, "experiment.yaml")), "experiment.yaml missing")
    cols, rows = read_log(os.path.join(rd, "log.csv"))
    check(cols == ["step", "epoch", "phase", "lr", "train_loss", "val_loss", "val_oa",
                   "samples_per_s", "elapsed"], "log.csv columns: %s" % cols)
    check([int(r["step"]) for r in rows] == [40, 80, 120, 160], "validation steps %s" % rows)
    check(float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"]), "loss did not go down")
    # The test pixels were never trained on: masks say so, and metrics count exactly them.
    masks = np.load(os.path.join(rd, "masks.npy"))
    rm = load_json(os.path.join(rd, "metrics.json"))
    check(rm["domains"]["Synth6"]["test_pixels"] == int((masks == 3).sum()), "test pixel count")
    # split.train: 20 and split.val: 12 (stratified, the default): per class, 3 classes
    check(int((masks == 1).sum()) == 60 and int((masks == 2).sum()) == 36, "split counts")
    w, meta = read_st(os.path.join(rd, "best.safetensors"))
    check(set(w) == {"in.weight", "in.bias", "norm.running_mean", "trunk.weight", "trunk.bias",
                     "head.weight", "head.bias"}, "weights: %s" % sorted(w))
    check(meta.get("format") == "pt" and meta.get("net") == "tiny", "metadata %s" % meta)
    check(np.abs(w["norm.running_mean"]).sum() > 0, "running statistics not saved")
    # A second train into the same folder is refused without --overwrite.
    p = run(TINY, "train", "--out", out, code=1)
    check("--resume" in p.stderr, "no hint to --resume:\n" + p.stderr)


def t_runs2():
    out = os.path.join(WORK, "out")
    run(TINY, "train", "--out", out, "--runs", "2", "--quiet")
    m = load_json(os.path.join(out, "metrics.json"))
    for k in ["oa", "aa", "kappa", "mean", "std", "runs"]:
        check(k in m, "metrics.json lacks %s" % k)
    check(len(m["runs"]) == 2, "runs: %s" % m["runs"])
    oas = [r["oa"] for r in m["runs"]]
    check(abs(m["mean"]["oa"] - np.mean(oas)) < 1e-12, "mean OA")
    check(abs(m["std"]["oa"] - np.std(oas, ddof=1)) < 1e-12, "std OA (sample)")
    check(oas[0] != oas[1] or m["runs"][0]["seed"] != m["runs"][1]["seed"], "runs identical")
    for r in range(2):
        rm = load_json(os.path.join(out, "run%d" % r, "metrics.json"))
        check(abs(rm["oa"] - oas[r]) < 1e-12, "run%d OA differs from the summary" % r)
    check("Synth6" in m["domains"] and "classes" in m["domains"]["Synth6"], "per-class values")


def t_resume():
    a, b = os.path.join(WORK, "straight"), os.path.join(WORK, "stopped")
    sets = ["--set", "outputs.checkpoints=both", "--set", "train.iterations=100",
            "--set", "train.val_every=30", "--set", "augment=dihedral", "--quiet"]
    run(TINY, "train", "--out", a, *sets)
    p = run(TINY, "train", "--out", b, "--stop-after", "45", *sets, code=130)
    check("--resume" in p.stderr, "stop message lacks --resume:\n" + p.stderr)
    check(not os.path.exists(os.path.join(b, "run0", "last.safetensors")), "stopped run finished?")
    run(TINY, "train", "--resume", b, "--quiet")
    for f in ["last.safetensors", "best.safetensors"]:
        wa, _ = read_st(os.path.join(a, "run0", f))
        wb, _ = read_st(os.path.join(b, "run0", f))
        for k in wa:
            check(np.array_equal(wa[k], wb[k]), "%s: %s differs after resume" % (f, k))
    sa, _ = read_st(os.path.join(a, "run0", "state.safetensors"))
    sb, _ = read_st(os.path.join(b, "run0", "state.safetensors"))
    check(set(sa) == set(sb) and all(np.array_equal(sa[k], sb[k]) for k in sa), "state differs")
    check(any(k.startswith("opt.m.") for k in sa), "no solver moments in the state")
    _, ra = read_log(os.path.join(a, "run0", "log.csv"))
    _, rb = read_log(os.path.join(b, "run0", "log.csv"))
    keep = ["step", "epoch", "phase", "lr", "train_loss", "val_loss", "val_oa"]
    check([[r[k] for k in keep] for r in ra] == [[r[k] for k in keep] for r in rb],
          "log.csv differs after resume")
    ma, mb = load_json(os.path.join(a, "metrics.json")), load_json(os.path.join(b, "metrics.json"))
    check(ma["oa"] == mb["oa"], "metrics differ after resume")
    # Resuming a finished training redoes nothing and keeps the results, timing included (the
    # summary's wall_seconds became the few ms of the re-resume).
    before = open(os.path.join(b, "metrics.json")).read()
    run(TINY, "train", "--resume", b, "--quiet")
    check(open(os.path.join(b, "metrics.json")).read() == before, "re-resume rewrote metrics.json")
    # An edited experiment.yaml is not resumed: the state records the experiment it trained.
    c = os.path.join(WORK, "edited")
    run(TINY, "train", "--out", c, "--stop-after", "45", *sets, code=130)
    orig = open(os.path.join(c, "experiment.yaml")).read()
    for old, new in [("  batch: 16\n", "  batch: 8\n"), ("  lr: 0.01\n", "  lr: 0.02\n")]:
        check(old in orig, "experiment.yaml lacks %r:\n%s" % (old, orig))
        open(os.path.join(c, "experiment.yaml"), "w").write(orig.replace(old, new))
        p = run(TINY, "train", "--resume", c, "--quiet", code=1)
        check("experiment.yaml was changed after this state was written" in p.stderr and
              "state.safetensors" in p.stderr, "edited %s: message\n%s" % (new.strip(), p.stderr))
    open(os.path.join(c, "experiment.yaml"), "w").write(orig)
    run(TINY, "train", "--resume", c, "--quiet")   # put back: it resumes


def stopped_equals_straight(tag, sets):
    """Trains with sets straight, and stopped at step 45 then resumed: the same weights, state
    and log. Returns the straight run's log rows and state tensors."""
    a, b = os.path.join(WORK, tag + "_straight"), os.path.join(WORK, tag + "_stopped")
    run(TINY, "train", "--out", a, *sets)
    run(TINY, "train", "--out", b, "--stop-after", "45", *sets, code=130)
    run(TINY, "train", "--resume", b, "--quiet")
    for f in ["last.safetensors", "best.safetensors"]:
        wa, _ = read_st(os.path.join(a, "run0", f))
        wb, _ = read_st(os.path.join(b, "run0", f))
        for k in wa:
            check(np.array_equal(wa[k], wb[k]), "%s %s: %s differs after resume" % (tag, f, k))
    sa, ma = read_st(os.path.join(a, "run0", "state.safetensors"))
    sb, mb = read_st(os.path.join(b, "run0", "state.safetensors"))
    check(set(sa) == set(sb) and all(np.array_equal(sa[k], sb[k]) for k in sa),
          "%s: state differs" % tag)
    check(ma["plateau"] == mb["plateau"], "%s: plateau state %s vs %s" % (tag, ma["plateau"],
                                                                        mb["plateau"]))
    _, ra = read_log(os.path.join(a, "run0", "log.csv"))
    _, rb = read_log(os.path.join(b, "run0", "log.csv"))
    keep = ["step", "lr", "train_loss", "val_loss", "val_oa"]
    check([[r[k] for k in keep] for r in ra] == [[r[k] for k in keep] for r in rb],
          "%s: log.csv differs after resume" % tag)
    return ra, sa


def t_resume_solvers():
    """Adagrad and Adadelta with reduce-on-plateau: a run stopped in the middle (between two
    validations, after a cut) and resumed equals the straight run bit for bit."""
    base = ["--set", "outputs.checkpoints=both", "--set", "train.iterations=100",
            "--set", "train.val_every=10", "--quiet"]
    plateau = ["--set", "schedule={policy: plateau, patience: 0, factor: 0.5, threshold: 0.5}"]
    rows, st = stopped_equals_straight("adagrad", base + plateau + [
        "--set", "solver={type: adagrad, lr: 0.05, lr_decay: 0.01, initial_accumulator_value: 0.1}"])
    check(any(k.startswith("opt.v.") for k in st) and any(k.startswith("opt.t.") for k in st),
          "adagrad: no sum / step count in the state: %s" % sorted(st)[:4])
    lrs = [float(r["lr"]) for r in rows]
    check(abs(lrs[0] - 0.05) < 1e-8 and min(lrs) < 0.04, "plateau never cut the lr: %s" % lrs)
    check(any(x < 0.04 for x in lrs[:4]), "no cut before the stop at step 45: %s" % lrs)
    rows, st = stopped_equals_straight("adadelta", base + plateau + [
        "--set", "solver={type: adadelta, lr: 1.0, rho: 0.8}",
        "--set", "schedule.metric=val_oa", "--set", "schedule.cooldown=1"])
    check(any(k.startswith("opt.d.") for k in st) and any(k.startswith("opt.v.") for k in st),
          "adadelta: no averages in the state: %s" % sorted(st)[:4])
    # no validation pixels: refused with the key path
    p = run(TINY, "train", "--out", os.path.join(WORK, "noval"), "--set", "split.val=0",
            *plateau, code=1)
    check("key 'schedule.policy': plateau watches the validation loss, but split.val is 0"
          in p.stderr, "plateau without validation:\n" + p.stderr)


def t_bad_state():
    """A damaged state.safetensors: one message naming the file and the entry, exit 1 (a phase of
    -1 used to loop for ever, a step of 'abc' resumed from 0)."""
    base = os.path.join(WORK, "base")
    sets = ["--set", "train.iterations=100", "--set", "train.val_every=30", "--quiet"]
    run(TINY, "train", "--out", base, "--stop-after", "45", *sets, code=130)
    cases = [({"phase": "-1"}, "metadata 'phase' is '-1', expected an integer in 0..2147483647"),
             ({"phase": "99"}, "phase 99, iteration 45, but the experiment has 1 phase(s)"),
             ({"step": "abc"}, "metadata 'step' is 'abc', expected an integer"),
             ({"phase_it": "1000000", "step": "1000000"}, "and that phase is shorter"),
             ({"has_best": "2"}, "metadata 'has_best' is '2', expected an integer in 0..1"),
             ({"kind": "other"}, "not a training state (metadata 'kind' is 'other'")]
    for i, (meta, msg) in enumerate(cases):
        d = os.path.join(WORK, "bad%d" % i)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(base, d)
        st = os.path.join(d, "run0", "state.safetensors")
        with open(st, "rb") as f:
            raw = f.read()
        (n,) = struct.unpack("<Q", raw[:8])
        head = json.loads(raw[8:8 + n])
        head["__metadata__"].update(meta)
        h = json.dumps(head).encode()
        with open(st, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + raw[8 + n:])
        try:
            p = run(TINY, "train", "--resume", d, "--quiet", code=1)
        except subprocess.TimeoutExpired:
            fail("resume with %s hangs" % meta)
        check(msg in p.stderr and "state.safetensors" in p.stderr and p.stderr.count("\n") <= 2,
              "state %s: message\n%s" % (meta, p.stderr))
    run(TINY, "train", "--resume", base, "--quiet")   # the undamaged state still resumes


def t_finetune():
    a = os.path.join(WORK, "pre")
    run(TINY, "train", "--out", a, "--quiet")
    ck = os.path.join(a, "run0", "best.safetensors")
    p = run(TINY, "train", "--out", os.path.join(WORK, "ft"), "--set", "init.checkpoint=" + ck,
            "--set", "init.load=[trunk.*]", "--set", "init.freeze=[trunk.*]")
    lines = {}
    for l in p.stderr.split("\n"):
        t = l.split()
        shape = [i for i, w in enumerate(t) if w.startswith("[")]
        if l.startswith("  ") and shape:
            lines[t[shape[0] - 1]] = l
    check("loaded" in lines.get("trunk.weight", "") and "(frozen)" in lines["trunk.weight"],
          "load map for trunk.weight:\n" + p.stderr)
    check("loaded" in lines.get("trunk.bias", ""), "load map for trunk.bias")
    for n in ["in.weight", "in.bias", "head.weight", "head.bias", "norm.running_mean"]:
        check("initialised (not in init.load)" in lines.get(n, ""), "load map for %s:\n%s" % (n, p.stderr))
    check("2 loaded, 5 initialised" in p.stderr, "load map summary:\n" + p.stderr)
    # Frozen trunk: still exactly the pre-trained tensors after fine-tuning.
    pre, _ = read_st(ck)
    ft, _ = read_st(os.path.join(WORK, "ft", "run0", "best.safetensors"))
    check(np.array_equal(pre["trunk.weight"], ft["trunk.weight"]), "frozen trunk.weight moved")
    check(not np.array_equal(pre["head.weight"], ft["head.weight"]), "head not trained")
    # A checkpoint of another net: the shape mismatch names the tensor, both shapes, the fix.
    other, _ = read_st(ck)
    bad = os.path.join(WORK, "bad.safetensors")
    write_st(bad, {"trunk.weight": np.zeros((16, 8), np.float32)})
    p = run(TINY, "train", "--out", os.path.join(WORK, "ft2"), "--set", "init.checkpoint=" + bad,
            code=1)
    check("trunk.weight" in p.stderr and "[16,8]" in p.stderr and "[16,16]" in p.stderr
          and "init.load" in p.stderr, "shape mismatch message:\n" + p.stderr)
    # Nothing loaded (a checkpoint of another net, or init.load matching nothing): said, not only
    # implied by "0 loaded" in the load map.
    other = os.path.join(WORK, "other.safetensors")
    write_st(other, {"conv9.weight": np.zeros((2, 2), np.float32)})
    p = run(TINY, "train", "--out", os.path.join(WORK, "ft3"), "--set", "init.checkpoint=" + other)
    check("warning: init.checkpoint: nothing loaded: none of the 1 tensors" in p.stderr,
          "nothing-loaded warning:\n" + p.stderr)
    p = run(TINY, "train", "--out", os.path.join(WORK, "ft4"), "--set", "init.checkpoint=" + ck,
            "--set", "init.load=[trunc.*]")
    check("warning: init.checkpoint: nothing loaded: init.load matches none of the 7" in p.stderr,
          "nothing-loaded warning (pattern):\n" + p.stderr)


def write_st(path, tensors):
    head, off, blobs = {}, 0, []
    for k, v in tensors.items():
        b = v.astype("<f4").tobytes()
        head[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(head).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def t_phases():
    out = os.path.join(WORK, "out")
    run(TINY2, "train", "--out", out, "--quiet")
    cols, rows = read_log(os.path.join(out, "run0", "log.csv"))
    ph = [(int(r["step"]), int(r["phase"])) for r in rows]
    check(ph == [(20, 0), (40, 0), (60, 0), (80, 1), (100, 1), (120, 1), (140, 1), (160, 1)],
          "phase switch: %s" % ph)
    m = load_json(os.path.join(out, "run0", "metrics.json"))
    for d in ["a", "b"]:
        check(m["domains"][d]["oa"] > 0.9, "domain %s OA %.3f" % (d, m["domains"][d]["oa"]))
        for f in ["masks.npy", "map_pred.png", "confusion.csv"]:
            check(os.path.isfile(os.path.join(out, "run0", d, f)), "run0/%s/%s missing" % (d, f))
    w, _ = read_st(os.path.join(out, "run0", "best.safetensors"))
    check(sum(k.startswith("trunk.") for k in w) == 2 and "a.head.weight" in w and "b.head.weight" in w,
          "one shared trunk, per-domain heads: %s" % sorted(w))
    # predict --domain NAME: that domain's scene only, the same bits as in a predict of all
    # (it was ignored: every domain was predicted); an unknown name lists the domains
    best = os.path.join(out, "run0", "best.safetensors")
    pall, pb = os.path.join(WORK, "pall"), os.path.join(WORK, "pb")
    run(TINY2, "predict", "--weights", best, "--out", pall)
    run(TINY2, "predict", "--weights", best, "--out", pb, "--domain", "b")
    made = sorted(f for f in os.listdir(pb) if f != ".lock")
    check(made == ["b"], "predict --domain b wrote %s" % made)
    with open(os.path.join(pall, "b", "pred.npy"), "rb") as f1, \
            open(os.path.join(pb, "b", "pred.npy"), "rb") as f2:
        check(f1.read() == f2.read(), "predict --domain b: pred.npy differs from predict's")
    p = run(TINY2, "predict", "--weights", best, "--out", os.path.join(WORK, "pc"), "--domain", "c",
            code=1)
    check("no domain 'c' (its domains: 'a', 'b')" in p.stderr, "unknown --domain:\n" + p.stderr)
    check(not os.path.exists(os.path.join(WORK, "pc")), "predict --domain c made its --out")


def t_missing_dataset():
    p = run(TINY, "train", "--out", os.path.join(WORK, "o"), code=1,
            env={"HSICC_DATA": os.path.join(WORK, "empty")})
    check("Synth6" in p.stderr and "fetch" in p.stderr, "missing dataset message:\n" + p.stderr)
    check(p.stderr.count("\n") <= 2, "more than one message:\n" + p.stderr)


def t_bad_set():
    p = run(TINY, "train", "--out", os.path.join(WORK, "o"), "--set", "solver.lr=abc", code=1)
    check("solver.lr" in p.stderr, "key path missing:\n" + p.stderr)
    p = run(TINY, "train", "--bogus", code=2)
    check("--help" in p.stderr, "usage hint")
    # --runs 0 ran once; --resume ignored --experiment
    p = run(TINY, "train", "--out", os.path.join(WORK, "o"), "--runs", "0", code=2)
    check("--runs: expected at least 1 run, got '0'" in p.stderr, "--runs 0:\n" + p.stderr)
    p = run(TINY, "train", "--out", os.path.join(WORK, "r"), "--stop-after", "1", "--quiet", code=130)
    p = run(TINY, "train", "--resume", os.path.join(WORK, "r"), "--experiment", "x.yaml", code=2)
    check("--experiment cannot be combined with --resume" in p.stderr, "--resume --experiment:\n" + p.stderr)
    # a batch past the memory there is names the key and the bytes, before anything is written
    # (was "batcher: out of memory", after experiment.yaml and run0/)
    p = run(TINY, "train", "--out", os.path.join(WORK, "big"), "--set", "train.batch=2000000000", code=1)
    check("--set train.batch=2000000000: key 'train.batch' (2000000000): " in p.stderr and "its batches of 6 x 3 x 3 patches: "
          "needs 1296000000000 bytes (1296.0 GB), more than this process can still take: " in p.stderr
          and not os.path.exists(os.path.join(WORK, "big")), "out-of-memory message:\n" + p.stderr)
    p = run(TINY, "--help")
    for c in ["train", "eval", "predict", "forward", "grad"]:
        check(c in p.stdout, "--help lacks " + c)
    # The net is compiled for 3 classes: an experiment with 2 says both values and the fix.
    p = run(TINY, "train", "--out", os.path.join(WORK, "o"), "--set", "domains.0.labels=[1, 2]", code=1)
    check("2 classes" in p.stderr and "3" in p.stderr and "hsicc build" in p.stderr,
          "class mismatch message:\n" + p.stderr)


def t_commands():
    out = os.path.join(WORK, "out")
    run(TINY, "train", "--out", out, "--quiet")
    rd = os.path.join(out, "run0")
    m = load_json(os.path.join(rd, "metrics.json"))
    w = os.path.join(rd, "best.safetensors")
    p = run(TINY, "eval", "--weights", w, "--masks", rd, "--out", os.path.join(WORK, "ev"))
    ev = load_json(os.path.join(WORK, "ev", "metrics.json"))
    check(ev["domains"]["Synth6"]["oa"] == m["oa"], "eval OA %s != train OA %s" % (ev["domains"]["Synth6"]["oa"], m["oa"]))
    # A split without test pixels: an error, not an empty success (it printed nothing, exit 0).
    np.save(os.path.join(WORK, "m0.npy"), np.zeros((24, 24), np.int8))
    p = run(TINY, "eval", "--weights", w, "--masks", "m0.npy", code=1)
    check("Synth6: no test pixels in the split" in p.stdout and
          "m0.npy: no test pixels in any domain: nothing to evaluate" in p.stderr,
          "empty split message:\n" + p.stdout + p.stderr)
    np.save(os.path.join(WORK, "m1.npy"), np.zeros(576, np.int8))   # said "576 x 0 (ndim 1)"
    p = run(TINY, "eval", "--weights", w, "--masks", "m1.npy", code=1)
    check("m1.npy: the split mask has shape [576], the scene is 24 x 24" in p.stderr,
          "1-D mask message:\n" + p.stderr)
    run(TINY, "predict", "--weights", w, "--out", os.path.join(WORK, "pr"))
    pred = np.load(os.path.join(WORK, "pr", "pred.npy"))
    check(pred.shape == (24, 24) and pred.dtype == np.int32 and pred.min() >= 0 and pred.max() < 3,
          "pred.npy %s %s" % (pred.shape, pred.dtype))
    gt = np.load(os.path.join(DATA, "Synth6", "gt.npy"))
    check(((pred + 1) == gt)[gt > 0].mean() > 0.9, "predicted map disagrees with the gt")
    x = np.random.default_rng(5).normal(0, 1, (7, 6, 3, 3)).astype(np.float32)
    np.save(os.path.join(WORK, "x.npy"), x)
    run(TINY, "forward", "--weights", w, "--input", "x.npy", "--out", "l.npy")
    lg = np.load(os.path.join(WORK, "l.npy"))
    # Oracle: the tiny net in numpy (inference: running mean, no dropout).
    wt, _ = read_st(w)
    xc = x.reshape(7, -1) - wt["norm.running_mean"]
    ref = ((xc @ wt["in.weight"].T + wt["in.bias"]) @ wt["trunk.weight"].T + wt["trunk.bias"]) \
        @ wt["head.weight"].T + wt["head.bias"]
    check(lg.shape == (7, 3) and np.allclose(lg, ref, atol=1e-4), "forward logits vs numpy")
    y = np.array([0, 1, 2, 0, 1, 2, 0], np.int32)
    np.save(os.path.join(WORK, "y.npy"), y)
    p = run(TINY, "grad", "--weights", w, "--input", "x.npy", "--labels", "y.npy", "--out", "g.safetensors")
    g, meta = read_st(os.path.join(WORK, "g.safetensors"))
    z = g["logits"].astype(np.float64)
    sm = np.exp(z - z.max(1, keepdims=True))
    sm /= sm.sum(1, keepdims=True)
    loss = -np.log(sm[np.arange(7), y]).mean()
    check(abs(float(meta["loss"]) - loss) < 1e-5, "grad loss %s vs %s" % (meta["loss"], loss))
    onehot = np.eye(3)[y]
    check(np.allclose(g["head.bias"], (sm - onehot).mean(0), atol=1e-6), "head.bias gradient")
    check("norm.running_mean" not in g and "trunk.weight" in g, "grad tensors: %s" % sorted(g))
    p = run(TINY, "forward", "--weights", w, "--input", "y.npy", "--out", "l.npy", code=1)
    check("y.npy" in p.stderr and "54" in p.stderr, "bad input shape message:\n" + p.stderr)
    # No samples: the message gives the array's shape (it said "got 54 values per row", and
    # "[n, 6,3,3]]").
    np.save(os.path.join(WORK, "x0.npy"), np.zeros((0, 6, 3, 3), np.float32))
    p = run(TINY, "forward", "--weights", w, "--input", "x0.npy", "--out", "l.npy", code=1)
    check("expected [n, 6,3,3] samples" in p.stderr and "got an array of shape [0,6,3,3]" in p.stderr,
          "empty input message:\n" + p.stderr)
    # Two tensors on the same bytes of a weights file: refused, both named.
    raw = open(w, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    head = json.loads(raw[8:8 + n])
    head["in.bias"]["data_offsets"] = [0, head["in.bias"]["data_offsets"][1] - head["in.bias"]["data_offsets"][0]]
    h = json.dumps(head).encode()
    with open(os.path.join(WORK, "overlap.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + raw[8 + n:])
    p = run(TINY, "forward", "--weights", "overlap.safetensors", "--input", "x.npy", "--out", "l.npy", code=1)
    check("overlap" in p.stderr and "'in.bias'" in p.stderr, "overlap message:\n" + p.stderr)


def t_atomic():
    """Kill -9 a training at random moments: every result file present is whole."""
    out = os.path.join(WORK, "out")
    e = dict(os.environ, HSICC_DATASETS=REG, HSICC_DATA=DATA)
    for delay in [0.05, 0.15, 0.3, 0.6]:
        shutil.rmtree(out, ignore_errors=True)
        p = subprocess.Popen([TINY, "train", "--out", out, "--quiet", "--runs", "3",
                              "--set", "train.val_every=5", "--set", "outputs.checkpoints=both"],
                             env=e, cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        for root, _, files in os.walk(out):
            for f in files:
                path = os.path.join(root, f)
                if ".tmp." in f:
                    continue
                if f.endswith(".json"):
                    load_json(path)
                elif f.endswith(".safetensors"):
                    read_st(path)
                elif f.endswith(".npy"):
                    np.load(path)
                elif f.endswith(".png"):
                    with open(path, "rb") as fh:
                        data = fh.read()
                    check(data.endswith(b"IEND\xaeB`\x82"), "truncated PNG " + path)
    # A training killed once it has started (its experiment.yaml written: on a loaded machine
    # 0.6 s may come before that) resumes to the end.
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.Popen([TINY, "train", "--out", out, "--quiet", "--runs", "3",
                          "--set", "train.val_every=5", "--set", "outputs.checkpoints=both"],
                         env=e, cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not os.path.isfile(os.path.join(out, "experiment.yaml")) and time.time() - t0 < 60:
        time.sleep(0.01)
    time.sleep(0.1)
    p.send_signal(signal.SIGKILL)
    p.wait()
    run(TINY, "train", "--resume", out, "--quiet")
    check(os.path.isfile(os.path.join(out, "metrics.json")), "resume after kill -9")


def t_kill_resume():
    """Resuming is bit-exact (TRAINER.md) after kill -9 too, not only after a stop: a training
    killed at random moments of its training (a fixed seed: each time some time after a state
    was written, while it trains, validates or writes) and resumed each time ends with the
    weights, state, log and metrics of a straight run, and no file is ever half-written."""
    import random
    sets = ["--set", "train.iterations=1500", "--set", "train.val_every=23", "--runs", "2",
            "--set", "outputs.checkpoints=both", "--set", "solver={type: adam, lr: 0.01}",
            "--set", "augment=dihedral"]
    a, b = os.path.join(WORK, "straight"), os.path.join(WORK, "killed")
    t0 = time.time()
    run(TINY, "train", "--out", a, "--quiet", *sets)
    # kill delays scale with this machine's speed (the whole training takes 0.2 s on a fast one):
    # each kill lands within 1/20 of the training after a state, so five never reach its end
    span = (time.time() - t0) / 20
    e = dict(os.environ, HSICC_DATASETS=REG, HSICC_DATA=DATA)
    e.pop("HSICC_DATA_MIRROR", None)
    rng = random.Random(5)

    def states():   # (run, mtime) of the state files there
        return {r: os.stat(os.path.join(b, r, "state.safetensors")).st_mtime_ns
                for r in ("run0", "run1") if os.path.isfile(os.path.join(b, r, "state.safetensors"))}

    def killed_run():   # (kills, resumes) until the training ends
        kills, resumed, args = 0, 0, ["train", "--out", b] + sets
        while True:
            before = states()
            p = subprocess.Popen([TINY] + args, env=e, cwd=WORK, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            t0 = time.time()
            while kills < 5 and p.poll() is None and states() == before and time.time() - t0 < 60:
                time.sleep(0.002)   # a new state: the training runs
            if kills < 5 and p.poll() is None:
                time.sleep(rng.uniform(0, span))
                p.send_signal(signal.SIGKILL)
            err = p.communicate(timeout=300)[1]
            if p.returncode == 0:
                return kills, resumed
            check(p.returncode == -signal.SIGKILL, "exit %d after %d kills\n%s" % (p.returncode, kills, err))
            kills += 1
            resumed += "resuming at step" in err
            for root, _, files in os.walk(b):
                for f in files:
                    if f.endswith(".safetensors") and ".tmp." not in f:
                        read_st(os.path.join(root, f))
                    elif f.endswith(".json") and ".tmp." not in f:
                        load_json(os.path.join(root, f))
            args = ["train", "--resume", b]
    # a loaded machine can stall the killer while the training runs on: if the training ended
    # before five kills, the kills so far were still checked; start afresh with shorter delays
    for attempt in range(4):
        kills, resumed = killed_run()
        if kills == 5 and resumed >= 3:
            break
        shutil.rmtree(b)
        span /= 4
    check(kills == 5 and resumed >= 3, "%d kills, %d of them after a resume from a state: the "
          "training ended first, 4 times" % (kills, resumed))
    timing = ("train_seconds", "wall_seconds", "samples_per_s", "train_samples_per_s")
    for r in ("run0", "run1"):
        for f in ("best.safetensors", "last.safetensors", "state.safetensors"):
            wa, ma = read_st(os.path.join(a, r, f))
            wb, mb = read_st(os.path.join(b, r, f))
            check(set(wa) == set(wb) and all(np.array_equal(wa[k], wb[k]) for k in wa),
                  "%s/%s: tensors differ after %d kills" % (r, f, kills))
            for k in set(ma) | set(mb):
                if k not in timing + ("log", "row_seconds"):
                    check(ma.get(k) == mb.get(k), "%s/%s: metadata %s %r vs %r" % (r, f, k, ma.get(k), mb.get(k)))
        keep = ["step", "epoch", "phase", "lr", "train_loss", "val_loss", "val_oa"]
        _, ra = read_log(os.path.join(a, r, "log.csv"))
        _, rb = read_log(os.path.join(b, r, "log.csv"))
        check([[x[k] for k in keep] for x in ra] == [[x[k] for k in keep] for x in rb],
              "%s/log.csv differs after %d kills" % (r, kills))
    ma, mb = load_json(os.path.join(a, "metrics.json")), load_json(os.path.join(b, "metrics.json"))
    check([x["oa"] for x in ma["runs"]] == [x["oa"] for x in mb["runs"]], "metrics differ")
    check(not [f for _, _, fs in os.walk(b) for f in fs if ".tmp." in f], "temporary files left")


def t_not_regular():
    """A FIFO (or a directory) where a file is expected: refused at once, never blocked on (open()
    of a FIFO without a writer waited for ever), with what it is."""
    out = os.path.join(WORK, "out")
    run(TINY, "train", "--out", out, "--quiet")
    w = os.path.join(out, "run0", "best.safetensors")
    fifo = os.path.join(WORK, "fifo")
    os.mkfifo(fifo)
    np.save(os.path.join(WORK, "x.npy"), np.zeros((2, 6, 3, 3), np.float32))
    is_fifo = "is a FIFO (named pipe), not a regular file"
    cases = [(["train", "--out", "o1", "--set", "init.checkpoint=" + fifo], is_fifo, None),
             (["train", "--out", "o2", "--experiment", fifo], is_fifo, None),
             (["eval", "--weights", fifo], is_fifo, None),
             (["eval", "--weights", w, "--masks", fifo], is_fifo, None),
             (["forward", "--weights", w, "--input", fifo, "--out", "l.npy"], is_fifo, None),
             (["train", "--out", "o3"], is_fifo, {"HSICC_DATASETS": fifo}),
             # a directory as a weights file said "9223372036854775807 bytes"
             (["forward", "--weights", out, "--input", "x.npy", "--out", "l.npy"],
              "out: is a directory", None)]
    for args, msg, env in cases:
        p = run(TINY, *args, code=1, env=env, timeout=20)
        check(msg in p.stderr and ("/fifo:" in p.stderr or msg != is_fifo) and p.stderr.count("\n") <= 2,
              "%s: message\n%s" % (args, p.stderr))
    # the state of a run folder
    st = os.path.join(WORK, "st")
    run(TINY, "train", "--out", st, "--stop-after", "10", "--quiet", code=130)
    os.remove(os.path.join(st, "run0", "state.safetensors"))
    os.mkfifo(os.path.join(st, "run0", "state.safetensors"))
    p = run(TINY, "train", "--resume", st, "--quiet", code=1, timeout=20)
    check("state.safetensors: is a FIFO" in p.stderr, "state FIFO:\n" + p.stderr)
    # a dataset file
    os.remove(os.path.join(DATA, "Synth6", "cube.npy"))
    os.mkfifo(os.path.join(DATA, "Synth6", "cube.npy"))
    p = run(TINY, "train", "--out", "o4", code=1, timeout=20)
    check("cube.npy: is a FIFO (named pipe), not a regular file" in p.stderr, "cube FIFO:\n" + p.stderr)


def t_fsize():
    """The file-size limit (ulimit -f): SIGXFSZ killed the trainer without a word and left a
    temporary file; now the write fails like on a full disk: one message, exit 1, no temp file."""
    import resource

    def limit(n):
        return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    e = dict(os.environ, HSICC_DATASETS=REG, HSICC_DATA=DATA)
    # 512 bytes: experiment.yaml (855) fails; 10000: state.safetensors (17908) at the first validation
    for n, name in [(512, "experiment.yaml"), (10000, "state.safetensors")]:
        out = os.path.join(WORK, "out%d" % n)
        p = subprocess.run([TINY, "train", "--out", out, "--quiet"], capture_output=True, text=True,
                           env=e, cwd=WORK, timeout=120, preexec_fn=limit(n))
        check(p.returncode == 1, "limit %d: exit %d (expected 1)\n%s" % (n, p.returncode, p.stderr))
        check(name + ": write failed: File too large (the file-size limit, ulimit -f, was reached)"
              in p.stderr and p.stderr.count("\n") <= 2, "limit %d: message\n%s" % (n, p.stderr))
        tmp = [os.path.join(r, f) for r, _, fs in os.walk(out) for f in fs if ".tmp." in f]
        check(not tmp, "limit %d: temporary files left: %s" % (n, tmp))


def t_result_sets():
    """eval and predict replace their result files as one set: a write that failed half way left
    the new pred.npy and maps beside the old cube.npy (eval: new confusion.csv files beside the
    old metrics.json), exit 1, and a folder that mixed two models' results. Now a failure, or a
    terminating signal at any moment, leaves the previous set whole, or the new one."""
    import hashlib
    import random
    import resource

    def limit(n):
        return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))

    def files(d):   # {relative path: sha256} of the results in d; temporaries fail the test
        got = {}
        for root, dirs, fs in os.walk(d):
            for f in fs + dirs:
                check(".tmp." not in f, "%s: temporary left: %s" % (d, os.path.join(root, f)))
            for f in fs:
                if f != ".lock":
                    with open(os.path.join(root, f), "rb") as fh:
                        got[os.path.relpath(os.path.join(root, f), d)] = hashlib.sha256(fh.read()).hexdigest()
        return got
    e = dict(os.environ, HSICC_DATASETS=REG, HSICC_DATA=DATA)
    e.pop("HSICC_DATA_MIRROR", None)
    # trained weights and initial ones: two models whose results differ
    for tr, name in ((TINY, "one"), (TINY2, "two")):
        run(tr, "train", "--out", os.path.join(WORK, name), "--quiet")
        run(tr, "init", "--out", os.path.join(WORK, name + "0.safetensors"))
    cases = [(TINY, "predict", "one", ["--save-cube"], 8000),   # pred.npy 2.4 kB, cube.npy 14 kB
             (TINY2, "eval", "two", ["--masks", os.path.join(WORK, "two", "run0")], 300)]
    for tr, cmd, name, extra, lim in cases:
        trained = os.path.join(WORK, name, "run0", "best.safetensors")
        init = os.path.join(WORK, name + "0.safetensors")
        old_dir, new_dir, d = (os.path.join(WORK, "%s_%s" % (cmd, k)) for k in ("old", "new", "x"))
        run(tr, cmd, "--weights", trained, "--out", old_dir, *extra)
        run(tr, cmd, "--weights", init, "--out", new_dir, *extra)
        old, new = files(old_dir), files(new_dir)
        differ = sorted(k for k in old if old[k] != new.get(k))   # the model's (not cube, gt map)
        check(set(old) == set(new) and len(old) >= 3 and len(differ) >= 2,
              "%s: the two models' results must differ: %s of %s" % (cmd, differ, sorted(old)))
        # a write fails half way (the file-size limit): the old set stays whole
        run(tr, cmd, "--weights", trained, "--out", d, *extra)
        p = subprocess.run([tr, cmd, "--weights", init, "--out", d] + extra, capture_output=True,
                           text=True, env=e, cwd=WORK, timeout=120, preexec_fn=limit(lim))
        check(p.returncode == 1 and "File too large" in p.stderr,
              "%s under ulimit -f %d: exit %d\n%s" % (cmd, lim, p.returncode, p.stderr))
        check(files(d) == old, "%s: a failed write left a mixed set: %s" % (
            cmd, sorted(k for k, v in files(d).items() if old.get(k) != v)))
        # a folder where a result file goes: refused before any file is replaced
        os.remove(os.path.join(d, sorted(old)[-1]))
        os.mkdir(os.path.join(d, sorted(old)[-1]))
        p = run(tr, cmd, "--weights", init, "--out", d, *extra, code=1)
        check("is a folder, where the result file goes" in p.stderr, "%s: message\n%s" % (cmd, p.stderr))
        check(all(files(d)[k] == old[k] for k in old if k != sorted(old)[-1]),
              "%s: a refused commit replaced files" % cmd)
        os.rmdir(os.path.join(d, sorted(old)[-1]))
        # a result that is a symbolic link is written through: the target replaced, the link kept
        target = os.path.join(WORK, "%s_elsewhere" % cmd)
        shutil.copy(os.path.join(old_dir, sorted(old)[-1]), target)
        os.symlink(target, os.path.join(d, sorted(old)[-1]))
        run(tr, cmd, "--weights", init, "--out", d, *extra)
        check(os.path.islink(os.path.join(d, sorted(old)[-1])) and files(d) == new,
              "%s: a symbolic link among the results was not written through" % cmd)
        os.remove(os.path.join(d, sorted(old)[-1]))
        shutil.copy(target, os.path.join(d, sorted(old)[-1]))
        # SIGTERM at random moments: the previous set or the new one, never both
        run(tr, cmd, "--weights", trained, "--out", d, *extra)
        t0 = time.time()
        run(tr, cmd, "--weights", init, "--out", new_dir, *extra)
        span = time.time() - t0
        rng = random.Random(3)
        seen = {True: 0, False: 0}   # signals that found the new set (the run finished) / the old
        for k in range(40):
            if k >= 12 and all(seen.values()):
                break
            cur = files(d)
            pr = subprocess.Popen([tr, cmd, "--weights", init if cur == old else trained, "--out", d]
                                  + extra, env=e, cwd=WORK, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, span))
            pr.send_signal(signal.SIGTERM)
            pr.wait(timeout=60)
            now = files(d)
            check(now in (old, new), "%s: SIGTERM left a mixed set: %s" % (
                cmd, sorted(k for k in now if now[k] != old.get(k))))
            seen[now != cur] += 1
            # the machine's load changes a run's time: keep the signals spread over all of it
            if k % 4 == 3 and not seen[True]:
                span *= 2
            elif k % 4 == 3 and not seen[False]:
                span /= 2
        check(all(seen.values()), "%s: of 40 SIGTERMs, %d stopped a run and %d came after it "
              "ended: the signals never hit %s" % (cmd, seen[False], seen[True],
                                                   "its end" if not seen[True] else "a run"))


def t_lock():
    """Two trainers on one run folder: both exited 0 and the first one's results were lost. The
    folder is locked while a trainer runs; the second is refused at once, with the owner's pid."""
    out = os.path.join(WORK, "out")
    e = dict(os.environ, HSICC_DATASETS=REG, HSICC_DATA=DATA)
    a = subprocess.Popen([TINY, "train", "--out", out, "--quiet", "--set", "train.iterations=1000000"],
                         env=e, cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if os.path.isfile(os.path.join(out, "experiment.yaml")):
            break
        time.sleep(0.05)
    owner = "trainer, pid %d" % a.pid
    for args in (["train", "--out", out], ["train", "--out", out, "--overwrite"],
                 ["train", "--resume", out]):
        p = run(TINY, *args, code=1, timeout=20)
        check("is in use by another process (%s)" % owner in p.stderr and p.stderr.count("\n") <= 2,
              "%s while another trainer runs:\n%s" % (args, p.stderr))
    a.send_signal(signal.SIGTERM)
    check(a.wait(timeout=60) == 130, "the first trainer, stopped: exit %s\n%s" % (a.returncode, a.stderr.read()))
    run(TINY, "train", "--resume", out, "--quiet", "--stop-after", "5", code=130)   # free again


def t_stop_signals():
    """A stop request (SIGINT, SIGTERM, SIGHUP) at any moment of a trainer's life ends it as a
    stop: exit 130 with its message, never by the signal's default (143, nothing said). Found under Slurm: scancel and
    scontrol requeue send SIGTERM to the trainer and to the job script, whose trap sends another;
    the second came after the state was saved, when the trainer had put the default handler
    back, and killed it before it said so (the job script then does not requeue)."""
    e = dict(os.environ, HSICC_DATASETS=REG, HSICC_DATA=DATA)
    e.pop("HSICC_DATA_MIRROR", None)
    long = ["--set", "train.iterations=100000000", "--set", "train.val_every=100000000"]

    # 1. asked before the trainer started (blocked and pending across exec, as a launcher that
    #    blocks signals leaves it): it loads the data, trains nothing and says so
    def pending_term():
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        os.kill(os.getpid(), signal.SIGTERM)
    a = os.path.join(WORK, "pending")
    try:
        p = subprocess.run([TINY, "train", "--out", a, *long], env=e, cwd=WORK, capture_output=True,
                           text=True, timeout=60, preexec_fn=pending_term)
    except subprocess.TimeoutExpired:   # (run kills it)
        fail("a stop pending at start: still training after 60 s (the signal stayed blocked)")
    check(p.returncode == 130 and "stopped before the training started; nothing changed: "
          "continue with: train --resume %s" % a in p.stderr and p.stderr.count("\n") <= 8,
          "a stop pending at start: exit %d\n%s" % (p.returncode, p.stderr[-2000:]))
    check(not os.path.exists(os.path.join(a, "run0", "state.safetensors")), "a state was saved")
    # its folder resumes: the training starts from step 0
    p = run(TINY, "train", "--resume", a, "--stop-after", "3", "--quiet", code=130)
    check("stopped at step 3 of run 0" in p.stderr, "resumed after a stop before training:\n" + p.stderr)

    # 2. SIGTERM as fast as they can be sent, from the trainer's first step to its exit (the
    #    later ones arrive while it saves and while it ends), and from the moment it catches
    #    them (/proc's SigCgt; before that, in exec and the loader, any program dies of one)
    def catches_term(pid):
        try:
            with open("/proc/%d/status" % pid) as f:
                cgt = [l for l in f if l.startswith("SigCgt:")][0].split()[1]
            return int(cgt, 16) >> (signal.SIGTERM - 1) & 1
        except (OSError, IndexError):
            return False
    for tag, wait_run in (("storm_training", True), ("storm_start", False)):
        out = os.path.join(WORK, tag)
        pr = subprocess.Popen([TINY, "train", "--out", out, *long], env=e, cwd=WORK,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        while not catches_term(pr.pid) and pr.poll() is None and time.time() - t0 < 60:
            pass
        while wait_run and not os.path.isfile(os.path.join(out, "run0", "log.csv")) and \
                pr.poll() is None and time.time() - t0 < 60:
            time.sleep(0.002)
        sent = 0
        while pr.poll() is None and time.time() - t0 < 60:
            pr.send_signal(signal.SIGTERM)
            sent += 1
        err = pr.stderr.read()
        check(pr.returncode == 130, "%s: exit %s after %d SIGTERMs\n%s" % (tag, pr.returncode, sent, err))
        saved = os.path.exists(os.path.join(out, "run0", "state.safetensors"))
        said = "the state is saved" in err if saved else "stopped before the training started" in err
        check(said and err.count("error") == 0, "%s (state saved: %s): message\n%s" % (tag, saved, err))
        check(saved or not wait_run, "%s: stopped during training without saving the state" % tag)
        check(not [f for f in os.listdir(out) if ".tmp." in f], "%s: temp files left" % tag)
        if saved:   # and it resumes from there
            step = int(err.split("stopped at step ")[1].split()[0])
            p = run(TINY, "train", "--resume", out, "--stop-after", str(step + 2), "--quiet", code=130)
            check("stopped at step %d of run 0" % (step + 2) in p.stderr, "resumed:\n" + p.stderr)

    # 3. the terminal closing (SIGHUP: an ssh session that drops) stops it the same way, with
    #    the state saved (it ended the trainer, losing the steps since the last validation)
    def training(tag, env):   # a trainer started into WORK/tag, once its first run has begun
        out = os.path.join(WORK, tag)
        pr = subprocess.Popen([TINY, "train", "--out", out, *long], env=env, cwd=WORK,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        while not os.path.isfile(os.path.join(out, "run0", "log.csv")) and pr.poll() is None \
                and time.time() - t0 < 60:
            time.sleep(0.01)
        return out, pr

    def stopped(pr, sig, what):   # its exit status once sig was sent
        pr.send_signal(sig)
        try:
            return pr.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pr.kill()
            fail("%s: still training after 60 s" % what)
    out, pr = training("hangup", e)
    rc = stopped(pr, signal.SIGHUP, "SIGHUP")
    err = pr.stderr.read()
    check(rc == 130 and "the state is saved" in err and
          os.path.exists(os.path.join(out, "run0", "state.safetensors")),
          "SIGHUP: exit %s\n%s" % (rc, err))

    # 4. no thread that computes can take them: while it trains (2 OpenMP threads, the batcher's
    #    thread), every thread but the one named hsi-signals blocks all three (a handler run
    #    inside oneDNN's AVX-512 GEMM writes its frame over the heap: runtime/io/atomic.c)
    out, pr = training("threads", dict(e, OMP_NUM_THREADS="2", HSICC_BATCH_PREFETCH="1"))
    t1 = time.time()   # OpenMP's thread, if its kernels start one, with the first step's
    while len(os.listdir("/proc/%d/task" % pr.pid)) < 4 and pr.poll() is None and \
            time.time() - t1 < 2:
        time.sleep(0.01)
    stops = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGHUP - 1))
    threads = []
    for tid in os.listdir("/proc/%d/task" % pr.pid):
        try:
            name = open("/proc/%d/task/%s/comm" % (pr.pid, tid)).read().strip()
            blk = [l for l in open("/proc/%d/task/%s/status" % (pr.pid, tid))
                   if l.startswith("SigBlk:")][0].split()[1]
        except (OSError, IndexError):
            continue
        threads.append((name, int(blk, 16) & stops == stops))
    rc = stopped(pr, signal.SIGTERM, "threads")
    takers = [t for t in threads if t[0] == "hsi-signals"]
    check(len(threads) >= 3 and len(takers) == 1 and not takers[0][1] and
          all(blocked for name, blocked in threads if name != "hsi-signals"),
          "threads (name, stop signals blocked): %s" % threads)
    check(rc == 130, "threads: exit %s\n%s" % (rc, pr.stderr.read()))


def t_numerics():
    """Silently wrong, now said: lr 1e30 trained a one-class model and exited 0 (divergence guard);
    a NaN checkpoint was accepted as init, weights or state; a class without training pixels and
    a split without test pixels gave no warning; a NaN in the cube trained on."""
    out = os.path.join(WORK, "out")
    p = run(TINY, "train", "--out", out, "--quiet", "--set", "solver.lr=1e30", "--set",
            "train.val_every=1", code=1)
    check("training diverged: " in p.stderr and "(run 0, phase 0 'main')" in p.stderr and
          "the last good state (step 1) is kept in" in p.stderr and p.stderr.count("\n") <= 2,
          "divergence message:\n" + p.stderr)
    st, meta = read_st(os.path.join(out, "run0", "state.safetensors"))
    check(meta["step"] == "1" and all(np.isfinite(v).all() for v in st.values()), "kept state")
    check(not os.path.exists(os.path.join(out, "metrics.json")), "a diverged training has results")
    # non-finite tensors: refused as init, as weights, and in a state
    good = os.path.join(WORK, "good")
    run(TINY, "train", "--out", good, "--quiet", "--stop-after", "45", code=130)
    w, _ = read_st(os.path.join(good, "run0", "state.safetensors"))
    w = {k: v.copy() for k, v in w.items() if not k.startswith(("opt.", "best."))}
    w["trunk.weight"][1, 2] = np.nan
    bad = os.path.join(WORK, "nan.safetensors")
    write_st(bad, w)
    msg = "tensor 'trunk.weight' holds 1 non-finite values (NaN or Inf; the first at index 18)"
    p = run(TINY, "train", "--out", os.path.join(WORK, "ft"), "--set", "init.checkpoint=" + bad, code=1)
    check(msg in p.stderr, "NaN init:\n" + p.stderr)
    p = run(TINY, "eval", "--weights", bad, code=1)
    check(msg in p.stderr, "NaN weights:\n" + p.stderr)
    stf = os.path.join(good, "run0", "state.safetensors")
    raw = open(stf, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    a = json.loads(raw[8:8 + n])["trunk.weight"]["data_offsets"][0] + 8 + n
    open(stf, "wb").write(raw[:a] + struct.pack("<f", float("inf")) + raw[a + 4:])
    p = run(TINY, "train", "--resume", good, "--quiet", code=1)
    check("state.safetensors: tensor 'trunk.weight' holds 1 non-finite values" in p.stderr,
          "Inf state:\n" + p.stderr)
    # a split (saved masks) that trains no pixel of class 3 and tests none
    gt = np.load(os.path.join(DATA, "Synth6", "gt.npy"))
    m = np.zeros(gt.shape, np.int8)
    m[(gt == 1) | (gt == 2)] = 1
    v = np.argwhere(gt == 3)[:5]
    m[v[:, 0], v[:, 1]] = 2
    np.save(os.path.join(WORK, "m.npy"), m)
    p = run(TINY, "train", "--out", os.path.join(WORK, "m"), "--quiet", "--set",
            "split={masks: %s}" % os.path.join(WORK, "m.npy"), "--set", "train.iterations=2")
    check("warning: run 0, domain 'Synth6': class 2 (c3) has no training pixel" in p.stderr and
          "warning: run 0, domain 'Synth6': the split leaves no test pixel" in p.stderr,
          "split warnings:\n" + p.stderr)
    # non-finite values in the cube: band and count
    cube = np.load(os.path.join(DATA, "Synth6", "cube.npy"))
    cube[3, 4, 2] = np.nan
    cube[7, 1, 2] = np.inf
    np.save(os.path.join(DATA, "Synth6", "cube.npy"), cube)
    p = run(TINY, "train", "--out", os.path.join(WORK, "c"), code=1)
    check("cube.npy (domain 'Synth6'): 2 values are not finite (NaN or Inf) in 1 band(s); band 2 "
          "(0-based) has 2, the first at row 3, column 4" in p.stderr, "NaN cube:\n" + p.stderr)
    # ... unless the experiment says what to do with them, or the band is left out
    p = run(TINY, "train", "--out", os.path.join(WORK, "z"), "--set", "preprocess.nonfinite=zero",
            "--set", "train.iterations=2")
    check("note: domain 'Synth6': 2 non-finite values set to 0 (preprocess.nonfinite: zero)"
          in p.stderr, "nonfinite: zero:\n" + p.stderr)
    check("  nonfinite: zero\n" in open(os.path.join(WORK, "z", "experiment.yaml")).read(),
          "the policy is not in the resolved experiment")


setup()
globals()["t_" + TEST]()
print("ok", TEST)
