#!/usr/bin/python3
"""hsicc sweep and the cross-domain workflow end to end, on the real contextual CNN and the
Salinas-A cube (from HSICC_DATA_MIRROR). Usage: run_tests.py TEST HSICC WORKDIR.

  run          a 2-point sweep, -j 2: one csv row per point, its means = the mean of the
               point's per-run metrics, a PNG, --collect gives the same table
  jobs_file    --jobs-file: one line per point; running one line with sh gives that point's
               results, --collect reports the other as missing (exit 1)
  failing      a point whose trainer fails: named with its exit status and log, csv 'failed'
  placeholder  {depth} in init.checkpoint filled per point (--dry-run); unknown names rejected
  phases       log.csv: phase index per step switches after 2 and 5 steps; one shared trunk
  lr_scale     one step with two active domains: the shared trunk moves by exactly half the
               step it makes with shared_lr_scale 1 (1/N, N = 2); unshared params identical
  finetune     a single-domain net from a two-domain checkpoint: exactly trunk.* loaded (load
               map and values), everything else freshly initialised, other tensors skipped
  threads      a trainer's thread count and its reason in the log: the usable CPUs (affinity
               mask, cgroup quota), SLURM_CPUS_PER_TASK, train.threads, OMP_NUM_THREADS (which
               wins); OpenMP really runs that many; oversubscription warned about, by the
               trainer and by hsicc sweep -j
  reuse        a second run keeps every trainer (same inode, mtime); one point's edited input
               rebuilds that point alone; truncated, altered or unrecorded trainers are rebuilt
  jobs_file_failing  a --jobs-file line's failure (exit status, kill -9) kept for --collect
               and --status, the line's exit status the trainer's
  status_running     --status: running with the trainer's pid while it runs, not for a pid
               reused by another process, stopped once it has ended
"""
import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from safetensors_np import read_st  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TEST, HSICC, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def run(*args, code=0, env=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=WORK, env=env)
    check(p.returncode == code, "%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s"
          % (" ".join(map(str, args)), p.returncode, code, p.stdout, p.stderr))
    return p


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def build(yaml, out):
    run(HSICC, "build", os.path.join(HERE, yaml), "-o", out)
    return out


def usable_cpus():
    """(CPUs this process may use, the trainer's reason text): the affinity mask, capped by a
    cgroup v2 CPU quota (cpu.max of this cgroup or a parent) when there is one."""
    n = len(os.sched_getaffinity(0))
    why = "%d CPU%s in the affinity mask" % (n, "" if n == 1 else "s")
    quota = None
    try:
        rel = [l.split("::", 1)[1].strip() for l in open("/proc/self/cgroup") if l.startswith("0::")][0]
        mnt = [l.split(" - ")[0].split()[4] for l in open("/proc/self/mountinfo")
               if l.split(" - ")[1].split()[0] == "cgroup2"][0]
        while True:
            try:
                q, per = open(mnt + rel.rstrip("/") + "/cpu.max").read().split()
                if q != "max":
                    c = -(-int(q) // int(per))
                    quota = c if quota is None else min(quota, c)
            except OSError:
                pass
            if rel in ("", "/"):
                break
            rel = rel.rsplit("/", 1)[0] or "/"
    except (OSError, IndexError):
        pass
    if quota is not None and quota < n:
        return quota, why + ", cgroup CPU quota %d" % quota
    return n, why


def trainable(name):
    return "running_" not in name


def t_run():
    out = os.path.join(WORK, "sw")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}   # sweep divides
    p = run(HSICC, "sweep", os.path.join(HERE, "tiny-sweep.yaml"), "-j", "2", "--out", out, env=env)
    rows = read_csv(os.path.join(out, "sweep.csv"))
    check([r["defines.depth"] for r in rows] == ["1", "2"], "one row per depth: %s" % rows)
    for r in rows:
        check(r["status"] == "ok" and r["runs"] == "2", "row %s" % r)
        folder = os.path.join(out, r["folder"])
        runs = [json.load(open(os.path.join(folder, "run%d" % i, "metrics.json"))) for i in range(2)]
        for m in ["oa", "aa", "kappa"]:
            v = [x[m] for x in runs]
            check(abs(float(r[m + "_mean"]) - np.mean(v)) < 2e-6, "%s mean %s vs runs %s" % (m, r[m + "_mean"], v))
            check(abs(float(r[m + "_std"]) - np.std(v, ddof=1)) < 2e-6, "%s std %s vs runs %s" % (m, r[m + "_std"], v))
        check(float(r["wall_seconds"]) > 0, "wall seconds %s" % r)
    png = open(os.path.join(out, "sweep.png"), "rb").read()
    check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000, "sweep.png")
    want = "OMP_NUM_THREADS=%d" % max(1, usable_cpus()[0] // 2)
    check(want in p.stdout, "2 jobs share the cores (%s):\n%s" % (want, p.stdout))
    before = open(os.path.join(out, "sweep.csv")).read()
    os.remove(os.path.join(out, "sweep.csv"))
    run(HSICC, "sweep", "--collect", out)
    check(open(os.path.join(out, "sweep.csv")).read() == before, "--collect gives another table")
    # A second sweep into the same folder redoes nothing.
    p = run(HSICC, "sweep", os.path.join(HERE, "tiny-sweep.yaml"), "--out", out)
    check(p.stdout.count("already done") == 2, "rerun:\n" + p.stdout)


def t_jobs_file():
    out, jobs = os.path.join(WORK, "sw"), os.path.join(WORK, "jobs.txt")
    p = run(HSICC, "sweep", os.path.join(HERE, "tiny-sweep.yaml"), "--out", out, "--jobs-file", jobs)
    lines = open(jobs).read().splitlines()
    check(len(lines) == 2 and "defines.depth=1" in lines[0] and "defines.depth=2" in lines[1],
          "one line per point:\n" + "\n".join(lines))
    check(not os.path.exists(os.path.join(out, "defines.depth=1", "metrics.json")), "jobs-file ran a point")
    subprocess.run(["sh", "-c", lines[1]], cwd="/", check=True)   # paths are absolute
    p = run(HSICC, "sweep", "--collect", out, code=1)
    rows = read_csv(os.path.join(out, "sweep.csv"))
    check([r["status"] for r in rows] == ["missing", "ok"], "statuses %s" % rows)
    check("defines.depth=1" in p.stdout and "missing" in p.stdout, "report:\n" + p.stdout)


def failing_exp():
    """WORK/failing.yaml: points init=scratch and init=pretrained, whose checkpoint is garbage."""
    bad = os.path.join(WORK, "garbage.safetensors")
    with open(bad, "wb") as f:
        f.write(b"this is not a safetensors file")
    y = open(os.path.join(HERE, "tiny-sweep.yaml")).read().replace(
        "  defines.depth: [1, 2]", "  init: [scratch, {checkpoint: %s, load: [\"trunk.*\"]}]" % bad)
    y = y.replace("../../netdefs", os.path.join(HERE, "../../netdefs"))
    exp = os.path.join(WORK, "failing.yaml")
    open(exp, "w").write(y)
    return exp


def t_failing():
    exp = failing_exp()
    out = os.path.join(WORK, "sw")
    p = run(HSICC, "sweep", exp, "--out", out, code=1)
    log = os.path.join(out, "init=pretrained", "train.log")
    check("init=pretrained: FAILED (exit status 1)" in p.stderr and log in p.stderr,
          "failure report:\n" + p.stderr)
    check("garbage.safetensors" in p.stderr, "log tail shown:\n" + p.stderr)
    rows = read_csv(os.path.join(out, "sweep.csv"))
    check([r["status"] for r in rows] == ["ok", "failed"], "statuses %s" % rows)


def t_placeholder():
    base = open(os.path.join(HERE, "tiny-sweep.yaml")).read().replace(
        "../../netdefs", os.path.join(HERE, "../../netdefs"))
    y = base.replace("  defines.depth: [1, 2]", "  defines.depth: [1, 2]\n  init: [scratch, "
                     "{checkpoint: \"/pre/d={depth}/x{defines.depth}.safetensors\"}]")
    open(os.path.join(WORK, "ph.yaml"), "w").write(y)
    p = run(HSICC, "sweep", "ph.yaml", "--dry-run")
    check("point 3: defines.depth=2,init=pretrained" in p.stdout and
          "init from /pre/d=2/x2.safetensors" in p.stdout, "filled:\n" + p.stdout)
    check("init from /pre/d=1/x1.safetensors" in p.stdout, "filled:\n" + p.stdout)
    check(not os.path.exists(os.path.join(WORK, "runs")), "--dry-run wrote files")
    open(os.path.join(WORK, "ph2.yaml"), "w").write(y.replace("{depth}", "{width}"))
    p = run(HSICC, "sweep", "ph2.yaml", "--dry-run", code=1)
    check("unknown placeholder {width}" in p.stderr and "{defines.depth}" in p.stderr,
          "unknown placeholder:\n" + p.stderr)


def t_phases():
    tr = build("cd2.yaml", os.path.join(WORK, "cd2"))
    out = os.path.join(WORK, "o")
    run(tr, "train", "--out", out, "--quiet")
    rows = read_csv(os.path.join(out, "run0", "log.csv"))
    got = [(int(r["step"]), int(r["phase"])) for r in rows]
    check(got == [(1, 0), (2, 0), (3, 1), (4, 1), (5, 1), (6, 2), (7, 2)], "phase per step %s" % got)
    w = read_st(os.path.join(out, "run0", "last.safetensors"))
    trunk = [k for k in w if k.startswith("trunk.")]
    check(len(trunk) > 0 and not any(".trunk." in k for k in w), "one shared trunk: %s" % sorted(w))
    for d in ["a", "b"]:
        check(any(k.startswith(d + ".c9") for k in w), "per-domain head of %s: %s" % (d, sorted(w)))
    check(w["a.c9.weight"].shape[0] == 6 and w["b.c9.weight"].shape[0] == 5, "head sizes")


def t_lr_scale():
    tr = build("cd2.yaml", os.path.join(WORK, "cd2"))
    one = ["--set", "phases=[{name: both, iterations: 1}]", "--set", "train.val_every=1"]
    w = {}
    for tag, extra in [("inv_n", []), ("half", ["--set", "shared_lr_scale=0.5"]),
                       ("one", ["--set", "shared_lr_scale=1"]),
                       ("quarter", ["--set", "shared_lr_scale=0.25"])]:
        out = os.path.join(WORK, tag)
        run(tr, "train", "--out", out, "--quiet", *one, *extra)
        w[tag] = read_st(os.path.join(out, "run0", "last.safetensors"))
    # w_s = w0 - s lr g: (w_1/N - w_1) = 2 (w_1/4 - w_1/N) exactly when 1/N = 1/2.
    n = 0
    for k, v in w["inv_n"].items():
        if not trainable(k):
            continue
        check(np.array_equal(v, w["half"][k]), "%s: 1/N differs from shared_lr_scale 0.5" % k)
        if k.startswith("trunk."):
            d_big, d_small = v - w["one"][k], w["quarter"][k] - v
            check(np.abs(d_big).max() > 0, "%s did not move" % k)
            err = np.abs(d_big - 2 * d_small).max() / np.abs(d_big).max()
            check(err < 1e-3, "%s: steps not proportional to the shared scale (rel err %g)" % (k, err))
            n += 1
        else:
            check(np.array_equal(v, w["one"][k]), "unshared %s depends on the shared scale" % k)
    check(n >= 4, "trunk tensors checked: %d" % n)


def t_finetune():
    src = build("cd2.yaml", os.path.join(WORK, "cd2"))
    run(src, "train", "--out", os.path.join(WORK, "pre"), "--quiet")
    ck = os.path.join(WORK, "pre", "run0", "last.safetensors")
    tr = build("ft.yaml", os.path.join(WORK, "ft"))
    frozen = ["--set", "init.freeze=[\"*\"]"]      # lr 0 everywhere: weights stay as initialised
    p = run(tr, "train", "--out", os.path.join(WORK, "loaded"), "--set", "init.checkpoint=" + ck,
            "--set", "init.load=[trunk.*]", *frozen)
    run(tr, "train", "--out", os.path.join(WORK, "scratch"), "--quiet", "--set",
        "init.checkpoint=" + ck, "--set", "init.load=[none]", *frozen)
    pre = read_st(ck)
    got = read_st(os.path.join(WORK, "loaded", "run0", "last.safetensors"))
    fresh = read_st(os.path.join(WORK, "scratch", "run0", "last.safetensors"))
    status = {}
    for line in p.stderr.splitlines():
        t = line.split()
        for i, word in enumerate(t):
            if word.startswith("[") and i > 0:
                status[t[i - 1]] = line
                break
    for k in got:
        if not trainable(k):
            continue
        if k.startswith("trunk."):
            check(np.array_equal(got[k], pre[k]), "%s not loaded from the checkpoint" % k)
            check("loaded" in status.get(k, ""), "load map for %s: %s" % (k, status.get(k)))
        else:
            check(np.array_equal(got[k], fresh[k]), "%s is not the fresh initialisation" % k)
            check("initialised (not in init.load)" in status.get(k, ""), "load map for %s" % k)
    skipped = [k for k in pre if not k.startswith("trunk.")]
    check(all("skipped" in status.get(k, "") for k in skipped), "a.*/b.* skipped:\n" + p.stderr)


def t_kill():
    """hsicc sweep killed left its trainer running, and a rerun trained the same point at the
    same time. Now the trainer gets SIGTERM when hsicc dies (it saves its state), and a point is
    locked by the sweep that works on it."""
    import signal
    import time
    out = os.path.join(WORK, "sw")
    args = [HSICC, "sweep", os.path.join(HERE, "tiny-sweep.yaml"), "--out", out,
            "--set", "train.iterations=10000000"]
    a = subprocess.Popen(args, cwd=WORK, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock = os.path.join(out, "defines.depth=1", ".lock")     # the trainer's, with its pid
    masks = os.path.join(out, "defines.depth=1", "run0", "masks.npy")   # it is training
    for _ in range(600):
        if os.path.isfile(masks) and open(lock).read().startswith("trainer, pid "):
            break
        time.sleep(0.1)
    text = open(lock).read()
    check(text.startswith("trainer, pid "), "no trainer started: %r" % text)
    pid = int(text.split("pid ")[1])
    # a second sweep on the same points is refused at once (the first holds them)
    p = run(*args, code=1)
    check("is in use by another process (hsicc sweep, pid %d)" % a.pid in p.stderr,
          "second sweep:\n" + p.stdout + p.stderr)
    a.send_signal(signal.SIGKILL)
    a.wait()
    for _ in range(300):
        if not os.path.exists("/proc/%d" % pid):
            break
        time.sleep(0.1)
    check(not os.path.exists("/proc/%d" % pid), "the trainer of a killed sweep still runs")
    # it saved its state: the point resumes
    check(os.path.isfile(os.path.join(out, "defines.depth=1", "run0", "state.safetensors")),
          "no state saved by the stopped trainer")


def t_build_set():
    """hsicc build --set (and hsicc_add_trainer SET) applied net defines only: solver, train and
    the rest were dropped, and the run folder's experiment.yaml did not say so. Every key is in
    the trainer now, and experiment.yaml records what ran."""
    tr = os.path.join(WORK, "ft")
    run(HSICC, "build", os.path.join(HERE, "ft.yaml"), "-o", tr, "--set", "solver.lr=0.0123",
        "--set", "train.batch=4", "--set", "train.iterations=3", "--set", "defines={depth: 2}")
    out = os.path.join(WORK, "o")
    run(tr, "train", "--out", out, "--quiet")
    y = open(os.path.join(out, "experiment.yaml")).read()
    for want in ["  lr: 0.0123\n", "  batch: 4\n", "  iterations: 3\n", "defines: {depth: 2, patch: 5}"]:
        check(want in y, "experiment.yaml lacks %r:\n%s" % (want, y))
    check(json.load(open(os.path.join(out, "run0", "metrics.json")))["steps"] == 3, "3 steps ran")


def t_input_not_patch():
    """A netdef whose input is not [1, bands, patch, patch]: the trainer said "rebuild the
    trainer", which gives the same net; now it says the netdef is the thing to fix."""
    net = open(os.path.join(HERE, "../../netdefs/ssrn.hsn")).read().replace(
        "input [1, bands, patch, patch]", "input [2, bands, patch, patch]")
    open(os.path.join(WORK, "two.hsn"), "w").write(net)
    y = open(os.path.join(HERE, "ft.yaml")).read().replace(
        "net: ../../netdefs/contextual.hsn", "net: two.hsn")
    open(os.path.join(WORK, "two.yaml"), "w").write(y)
    tr = os.path.join(WORK, "two")
    run(HSICC, "build", os.path.join(WORK, "two.yaml"), "-o", tr, "--set", "defines={k: 4}")
    p = run(tr, "train", "--out", os.path.join(WORK, "o"), code=1)
    check("the net's input has 850 values per sample, a [17, 5, 5] patch has 425" in p.stderr and
          "rebuilding gives the same net" in p.stderr and "rebuild the trainer" not in p.stderr,
          "message:\n" + p.stderr)


def t_threads():
    """Trainers ran as many OpenMP threads as the machine had cores, whatever CPUs they were
    given (taskset, a cgroup, a Slurm allocation), and said nothing about it."""
    import re
    import time
    tr = build("ft.yaml", os.path.join(WORK, "ft"))
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK")}
    usable, why = usable_cpus()

    def train(env, iterations=1, affinity=None):
        """(stderr, most threads the trainer had at once)"""
        out = os.path.join(WORK, "o")
        shutil.rmtree(out, ignore_errors=True)
        p = subprocess.Popen([tr, "train", "--out", out, "--set", "train.iterations=%d" % iterations],
                             env=dict(base, **env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, preexec_fn=(lambda: os.sched_setaffinity(0, affinity)) if affinity else None)
        most = 0
        while p.poll() is None:
            try:
                most = max(most, len(os.listdir("/proc/%d/task" % p.pid)))
            except OSError:
                pass
            time.sleep(0.02)
        err = p.stderr.read()
        check(p.returncode == 0, "trainer failed:\n" + err)
        return err, most

    def header(err):
        m = re.search(r"(?m)^threads: (.*)$", err)
        check(m, "no thread count in the log:\n" + err)
        return m.group(1)

    err, _ = train({})
    check(header(err) == "%d (%s)" % (usable, why), "default: %r, want %d (%s)" % (header(err), usable, why))
    one = sorted(os.sched_getaffinity(0))[:1]
    err, _ = train({}, affinity=one)
    check(header(err) == "1 (1 CPU in the affinity mask)", "taskset to one CPU: %r" % header(err))
    check(header(train({"SLURM_CPUS_PER_TASK": "1"})[0]) == "1 (SLURM_CPUS_PER_TASK=1)", "Slurm")
    err, _ = train({"SLURM_CPUS_PER_TASK": "1", "OMP_NUM_THREADS": "1"}, affinity=one)
    check(header(err) == "1 (OMP_NUM_THREADS=1)", "OMP_NUM_THREADS wins: %r" % header(err))
    err = run(tr, "train", "--out", os.path.join(WORK, "o2"), "--set", "train.threads=1",
              env=dict(base, SLURM_CPUS_PER_TASK="3")).stderr
    check(header(err) == "1 (train.threads: 1)", "train.threads over Slurm: %r" % header(err))
    err, _ = train({"OMP_NUM_THREADS": "two", "SLURM_CPUS_PER_TASK": "1"})
    check("warning: OMP_NUM_THREADS='two' is not a number of threads: ignored" in err and
          header(err) == "1 (SLURM_CPUS_PER_TASK=1)", "a bad OMP_NUM_THREADS:\n" + err)
    # OpenMP runs what was chosen (it read no OMP_NUM_THREADS): n threads more for n + 1 than for 1
    big = usable + 1
    # (the batches get a thread of their own only when a CPU is left over: with 1, not with n + 1)
    err1, t1 = train({"SLURM_CPUS_PER_TASK": "1"}, iterations=50)
    errb, tb = train({"SLURM_CPUS_PER_TASK": str(big)}, iterations=50)
    own1, ownb = ("batches: made on a thread of their own" in e for e in (err1, errb))
    check(own1 and not ownb and "batches: made on the step's threads" in errb,
          "batch thread with 1 and %d threads:\n%s\n%s" % (big, err1, errb))
    check(tb - t1 == big - 1 - 1, "threads seen: %d with 1, %d with %d" % (t1, tb, big))
    check("warning: %d threads on %d usable CPU" % (big, usable) in errb and "oversubscribed" in errb
          and "oversubscribed" not in err1, "oversubscription warning:\n" + errb)
    # hsicc sweep -j: the cores divided among the jobs; more threads than cores warned about
    out = os.path.join(WORK, "sw")
    p = run(HSICC, "sweep", os.path.join(HERE, "tiny-sweep.yaml"), "-j", "2", "--out", out,
            "--set", "runs.count=1", "--set", "train.iterations=1", env=dict(base, OMP_NUM_THREADS=str(usable)))
    check("hsicc: warning: 2 trainers at a time with %d thread(s) each on %d usable CPU(s)" % (usable, usable)
          in p.stderr and "oversubscribed" in p.stderr, "sweep -j 2 oversubscribed:\n" + p.stderr)
    for d in ["defines.depth=1", "defines.depth=2"]:
        log = open(os.path.join(out, d, "train.log")).read()
        check("threads: %d (OMP_NUM_THREADS=%d)" % (usable, usable) in log, "%s: %s" % (d, log))


def t_reuse():
    """A sweep run again rebuilt every point's trainer (a C compile each). A trainer whose inputs
    are unchanged is reused now; a point whose input changed is rebuilt, and so is a trainer file
    that is not the one built (truncated, or a byte changed with its mtime kept)."""
    y = open(os.path.join(HERE, "tiny-sweep.yaml")).read().replace(
        "../../netdefs", os.path.join(HERE, "../../netdefs"))
    one = "{type: sgd, lr: 0.01, momentum: 0.9}"
    y = y.replace("  defines.depth: [1, 2]",
                  "  solver: [%s, {type: sgd, lr: 0.02, momentum: 0.9}]" % one)
    exp, out, jobs = (os.path.join(WORK, n) for n in ("reuse.yaml", "sw", "jobs.txt"))
    open(exp, "w").write(y)
    pts = ["solver=solver#0", "solver=solver#1"]
    trainers = [os.path.join(out, d, "build", "trainer") for d in pts]

    def ident():
        return [(os.stat(t).st_ino, os.stat(t).st_mtime_ns) for t in trainers]

    def sweep(*extra, code=0):
        return run(HSICC, "sweep", exp, "--out", out, *extra, code=code)

    p = sweep("--jobs-file", jobs)
    check(p.stdout.count("trainer built (none yet)") == 2 and "reused" not in p.stdout.replace(
        "0 reused", ""), "first run:\n" + p.stdout)
    check("trainers: 2 built, 0 reused" in p.stdout, "first run's summary:\n" + p.stdout)
    first = ident()
    p = sweep("--jobs-file", jobs)
    check(ident() == first, "trainers rewritten by a second run:\n" + p.stdout)
    for d in pts:
        check("%s: trainer reused (its inputs are unchanged)" % d in p.stdout, "second run:\n" + p.stdout)
    check("trainers: 0 built, 2 reused" in p.stdout, "second run's summary:\n" + p.stdout)
    # one point's input changed: that point alone is rebuilt
    open(exp, "w").write(y.replace("lr: 0.02", "lr: 0.03"))
    p = sweep("--jobs-file", jobs)
    now = ident()
    check(now[0] == first[0] and now[1] != first[1], "only point 1 rebuilt:\n" + p.stdout)
    check("solver=solver#0: trainer reused" in p.stdout and
          "solver=solver#1: trainer rebuilt: its inputs changed" in p.stdout, "third run:\n" + p.stdout)
    # a trainer truncated, and one with a byte changed (its mtime kept): both rebuilt, then run
    with open(trainers[0], "r+b") as f:
        f.truncate(os.path.getsize(trainers[0]) // 2)
    st = os.stat(trainers[1])
    with open(trainers[1], "r+b") as f:
        f.seek(st.st_size // 2)
        b = f.read(1)
        f.seek(st.st_size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(trainers[1], ns=(st.st_atime_ns, st.st_mtime_ns))
    p = sweep()
    for d in pts:
        check("%s: trainer rebuilt: the trainer file is not the one built" % d in p.stdout,
              "damaged trainers:\n" + p.stdout)
    rows = read_csv(os.path.join(out, "sweep.csv"))
    check([r["status"] for r in rows] == ["ok", "ok"], "statuses %s" % rows)
    # no record, or a record of a build that did not finish: rebuilt, never taken on trust
    os.remove(trainers[0] + ".key")
    p = sweep()
    check("solver=solver#0: trainer rebuilt: no record of a finished build" in p.stdout,
          "no key:\n" + p.stdout)


def t_jobs_file_failing():
    """A --jobs-file line whose trainer failed left no trace a later --collect or --status saw:
    the point was "missing" / "started". The line keeps the failure in sweep-failed.txt now, as a
    local run does, and still exits with the trainer's status."""
    import signal
    import time
    exp, out, jobs = failing_exp(), os.path.join(WORK, "sw"), os.path.join(WORK, "jobs.txt")
    run(HSICC, "sweep", exp, "--out", out, "--jobs-file", jobs)
    lines = open(jobs).read().splitlines()
    note = os.path.join(out, "init=pretrained", "sweep-failed.txt")
    p = subprocess.run(["sh", "-c", lines[1]], cwd="/")
    check(p.returncode == 1, "the line's exit status is the trainer's: %d" % p.returncode)
    check(os.path.isfile(note) and "trainer exit status 1" in open(note).read(), "no failure kept")
    subprocess.run(["sh", "-c", lines[0]], cwd="/", check=True)
    check(not os.path.exists(os.path.join(out, "init=scratch", "sweep-failed.txt")), "ok point noted")
    p = run(HSICC, "sweep", "--collect", out, code=1)
    rows = read_csv(os.path.join(out, "sweep.csv"))
    check([r["status"] for r in rows] == ["ok", "failed"], "statuses %s" % rows)
    check("FAILED: trainer exit status 1 (a --jobs-file line" in p.stdout, "collect:\n" + p.stdout)
    p = run(HSICC, "sweep", "--status", out)
    check("init=pretrained  failed" in p.stdout and "trainer exit status 1" in p.stdout,
          "status:\n" + p.stdout)
    # a trainer killed by a signal (the OOM killer) under a line
    out2, jobs2 = os.path.join(WORK, "sw2"), os.path.join(WORK, "jobs2.txt")
    run(HSICC, "sweep", os.path.join(HERE, "tiny-sweep.yaml"), "--out", out2, "--jobs-file", jobs2,
        "--set", "train.iterations=10000000")
    line = open(jobs2).read().splitlines()[0]
    a = subprocess.Popen(["sh", "-c", line], cwd="/")
    lock = os.path.join(out2, "defines.depth=1", ".lock")
    for _ in range(600):
        if os.path.isfile(lock) and open(lock).read().startswith("trainer, pid "):
            break
        time.sleep(0.1)
    os.kill(int(open(lock).read().split("pid ")[1]), signal.SIGKILL)
    check(a.wait() == 137, "killed: the line's status %d" % a.returncode)
    p = run(HSICC, "sweep", "--status", out2)
    check("defines.depth=1  failed" in p.stdout and "trainer killed by signal 9" in p.stdout,
          "status after a kill -9:\n" + p.stdout)


def t_status_running():
    """--status said "started (running here, or stopped ...)" for a point whose trainer ran, and
    the same for one whose trainer had ended. The sweep records the trainer it starts (pid, host,
    start time); --status says running only while that very process lives."""
    import re
    import signal
    import time
    out = os.path.join(WORK, "sw")
    args = [HSICC, "sweep", os.path.join(HERE, "tiny-sweep.yaml"), "--out", out,
            "--set", "train.iterations=10000000"]
    a = subprocess.Popen(args, cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = os.path.join(out, "defines.depth=1", ".lock")
    masks = os.path.join(out, "defines.depth=1", "run0", "masks.npy")
    for _ in range(600):
        if os.path.isfile(masks) and open(lock).read().startswith("trainer, pid "):
            break
        time.sleep(0.1)
    pid = int(open(lock).read().split("pid ")[1])
    p = run(HSICC, "sweep", "--status", out)
    check(re.search(r"defines\.depth=1  running +pid %d on this host, since " % pid, p.stdout) and
          "0 done, 1 running," in p.stdout, "while it trains:\n" + p.stdout)
    rec = os.path.join(out, "defines.depth=1", "sweep-running.txt")
    text = open(rec).read()
    # a record whose pid is alive but another process (pid reuse): not running
    open(rec, "w").write(re.sub(r"(?m)^pid \d+$", "pid %d" % os.getpid(), text))
    p = run(HSICC, "sweep", "--status", out)
    check("running" not in p.stdout.split("\n", 1)[1].split("\n")[0] and "0 running" in p.stdout,
          "another process of that pid:\n" + p.stdout)
    open(rec, "w").write(text)
    a.send_signal(signal.SIGKILL)   # the trainer gets SIGTERM, saves its state and ends
    a.wait()
    for _ in range(300):
        if not os.path.exists("/proc/%d" % pid):
            break
        time.sleep(0.1)
    p = run(HSICC, "sweep", "--status", out)
    check(re.search(r"defines\.depth=1  started +\(stopped: its trainer, pid %d on this host, has "
                    r"ended" % pid, p.stdout) and "0 running" in p.stdout, "after it ended:\n" + p.stdout)


if __name__ == "__main__":
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    globals()["t_" + TEST]()
    print("ok")
