#!/usr/bin/python3
"""hsicc sweep --slurm on a real single-node Slurm cluster started on localhost (cluster.py),
with the tiny contextual CNN on Salinas-A of tests/sweep. Usage: run_tests.py TEST HSICC WORKDIR.

  chain        a pre-training sweep over 2 depths (held at first), then a fine-tuning sweep over
               depth x {scratch, pretrained} whose checkpoints lie in the pre-training's folder:
               each pretrained point waits (afterok) for exactly the job of its depth, the
               scratch points for none; --cpus-per-task gives the trainers their threads; the
               collect jobs write sweep.csv and sweep.png; --status says every point is done.
               The same two sweeps run locally give the same tables (but wall times) and the
               same weights, bit for bit.
  requeue      one long point interrupted three times: scontrol requeue, the time-limit signal
               (SIGUSR1 to the batch shell: the job requeues itself), scancel and a second
               hsicc sweep --slurm; every time the trainer saved its state and resumed from it,
               and the final weights equal an uninterrupted run's, bit for bit.
  broken_chain a pre-training that fails: the fine-tuning tasks waiting for it are cancelled,
               the others run, the table and --status say so, a new submission names the job
  unreachable  --slurm where Slurm is not installed, not configured, or its controller is down:
               one error each, exit 1, nothing built.
Exit 77 (skipped) where no cluster can be started (not root, slurm-wlm or munge missing).
"""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402

SWEEP = os.path.join(HERE, "..", "sweep")
NETDEFS = os.path.abspath(os.path.join(HERE, "..", "..", "netdefs"))
TEST, HSICC, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
CL = None   # the running cluster (for its logs in a failure report)


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        if CL:
            print(CL.logs())
        sys.exit(1)


def run(*args, code=0, cwd=None, env=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd or WORK,
                       env=env)
    check(p.returncode == code, "%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s"
          % (" ".join(map(str, args)), p.returncode, code, p.stdout, p.stderr))
    return p


def experiment(src, name, extra, folder):
    """tests/sweep/<src> with the netdef path made absolute, renamed, extra appended."""
    y = open(os.path.join(SWEEP, src)).read().replace("../../netdefs", NETDEFS)
    y = re.sub(r"(?m)^name: .*$", "name: " + name, y)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".yaml")
    open(path, "w").write(y + extra)
    return path


def jobs_of(folder):
    return json.load(open(os.path.join(folder, "slurm", "jobs.json")))


def squeue(*ids, fmt="%i|%T|%r|%E"):
    """{job id: [fields]} of the jobs (array tasks one per line), finished ones included."""
    r = subprocess.run(["squeue", "-h", "-r", "-t", "all", "--jobs=" + ",".join(ids), "-o", fmt],
                       capture_output=True, text=True)
    check(r.returncode == 0, "squeue: %s" % r.stderr)
    return {line.split("|")[0]: line.split("|")[1:] for line in r.stdout.splitlines()}


ACTIVE = {"PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED", "SUSPENDED"}


def wait_ended(ids, timeout):
    end = time.time() + timeout
    while time.time() < end:
        states = squeue(*ids)
        if states and all(v[0] not in ACTIVE for v in states.values()):
            return states
        time.sleep(1)
    check(False, "jobs %s still not ended after %d s: %s" % (ids, timeout, squeue(*ids)))


def wait_for(what, cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    check(False, "waited %d s for %s" % (timeout, what))


def table(path):
    """sweep.csv without the wall times (the only column that may differ between runs)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        del r["wall_seconds"]
    return rows


def weights(folder, label):
    return open(os.path.join(folder, label, "run0", "last.safetensors"), "rb").read()


# ---- tests -----------------------------------------------------------------------------------

def t_chain():
    sl, lo = os.path.join(WORK, "slurm"), os.path.join(WORK, "local")
    pre_extra = "sweep:\n  defines.depth: [1, 2]\n"
    ft_extra = ("sweep:\n  defines.depth: [1, 2]\n  init: [scratch, {checkpoint: "
                "\"pre/defines.depth={depth}/run0/last.safetensors\", load: [\"trunk.*\"]}]\n")
    for folder in (sl, lo):
        experiment("cd2.yaml", "pre", pre_extra, folder)
        experiment("ft.yaml", "ft", ft_extra, folder)
    # Slurm: the pre-training held, so that the fine-tuning is submitted while it waits
    p = run(HSICC, "sweep", "pre.yaml", "--out", "pre", "--slurm", "--hold", "--cpus-per-task=1",
            cwd=sl)
    pre = jobs_of(os.path.join(sl, "pre"))
    check([q["job"] for q in pre["points"]] == [pre["array"] + "_0", pre["array"] + "_1"],
          "pre-training jobs: %s\n%s" % (pre, p.stdout))
    p = run(HSICC, "sweep", "ft.yaml", "--out", "ft", "--slurm", "--cpus-per-task=1", cwd=sl)
    ft = jobs_of(os.path.join(sl, "ft"))
    want = {"defines.depth=1,init=scratch": [], "defines.depth=1,init=pretrained": [pre["array"] + "_0"],
            "defines.depth=2,init=scratch": [], "defines.depth=2,init=pretrained": [pre["array"] + "_1"]}
    got = {q["label"]: q["after"] for q in ft["points"]}
    check(got == want, "fine-tuning dependencies %s, want %s" % (got, want))
    deps = squeue(ft["array"], fmt="%i|%E")
    for i, q in enumerate(ft["points"]):
        d = deps.get("%s_%d" % (ft["array"], i), ["?"])[0]
        need = ["afterok:%s(unfulfilled)" % j for j in want[q["label"]]]
        check(d == (",".join(need) if need else "(null)"), "%s waits for %r, want %s" % (q["label"], d, need))
    p = run(HSICC, "sweep", "--status", os.path.join(sl, "ft"))
    check(p.stdout.count("pending") >= 4 and "job %s_3 PENDING" % ft["array"] in p.stdout,
          "status while held:\n" + p.stdout)
    run("scontrol", "release", pre["array"], pre["collect"])
    # meanwhile, the same chain here
    t0 = time.time()
    run(HSICC, "sweep", "pre.yaml", "--out", "pre", cwd=lo)
    run(HSICC, "sweep", "ft.yaml", "--out", "ft", cwd=lo)
    print("local chain: %.1f s" % (time.time() - t0))
    states = wait_ended([pre["array"], pre["collect"], ft["array"], ft["collect"]], 150)
    check(all(v[0] == "COMPLETED" for v in states.values()), "job states %s" % states)
    for sw in ("pre", "ft"):
        a, b = os.path.join(sl, sw), os.path.join(lo, sw)
        check(table(os.path.join(a, "sweep.csv")) == table(os.path.join(b, "sweep.csv")),
              "%s: Slurm table\n%s\nlocal table\n%s" % (sw, open(os.path.join(a, "sweep.csv")).read(),
                                                        open(os.path.join(b, "sweep.csv")).read()))
        check(all(r["status"] == "ok" for r in table(os.path.join(a, "sweep.csv"))), "statuses")
        png = open(os.path.join(a, "sweep.png"), "rb").read()
        check(png[:8] == b"\x89PNG\r\n\x1a\n", "%s: no sweep.png from the collect job" % sw)
        for q in jobs_of(a)["points"]:
            check(weights(a, q["label"]) == weights(b, q["label"]),
                  "%s/%s: weights differ from the local run" % (sw, q["label"]))
            log = open(os.path.join(a, q["label"], "train.log")).read()
            check("threads: 1 (SLURM_CPUS_PER_TASK=1)" in log, "threads from --cpus-per-task:\n" + log)
    log = open(os.path.join(sl, "ft", "defines.depth=2,init=pretrained", "train.log")).read()
    check("init from %s/pre/defines.depth=2/run0/last.safetensors" % sl in log,
          "the fine-tuning did not load its pre-training:\n" + log)
    p = run(HSICC, "sweep", "--status", os.path.join(sl, "ft"))
    check("4 done, 0 running, 0 pending, 0 failed" in p.stdout and
          re.search(r"\(collect\)\s+done\s+job %s COMPLETED" % ft["collect"], p.stdout),
          "final status:\n" + p.stdout)


def t_broken_chain():
    """A pre-training whose points fail: the fine-tuning tasks that wait for them are cancelled
    by Slurm, the scratch ones run, the table marks the others missing; submitting the
    fine-tuning again fails those points at once, naming the failed job."""
    pre_extra = "init: {checkpoint: not-a-checkpoint.safetensors}\nsweep:\n  defines.depth: [1, 2]\n"
    ft_extra = ("sweep:\n  defines.depth: [1, 2]\n  init: [scratch, {checkpoint: "
                "\"pre/defines.depth={depth}/run0/last.safetensors\", load: [\"trunk.*\"]}]\n")
    experiment("cd2.yaml", "pre", pre_extra, WORK)
    experiment("ft.yaml", "ft", ft_extra, WORK)
    open(os.path.join(WORK, "not-a-checkpoint.safetensors"), "w").write("garbage")
    run(HSICC, "sweep", "pre.yaml", "--out", "pre", "--slurm", "--hold")
    pre = jobs_of(os.path.join(WORK, "pre"))
    p = run(HSICC, "sweep", "ft.yaml", "--out", "ft", "--slurm")
    check("defines.depth=2,init=pretrained waits for %s_1" % pre["array"] in p.stdout, p.stdout)
    ft = jobs_of(os.path.join(WORK, "ft"))
    run("scontrol", "release", pre["array"], pre["collect"])
    states = wait_ended([pre["array"], pre["collect"], ft["array"], ft["collect"]], 120)
    want = {"0": "COMPLETED", "1": "CANCELLED", "2": "COMPLETED", "3": "CANCELLED"}
    for task, st in want.items():
        check(states["%s_%s" % (ft["array"], task)][0] == st, "fine-tuning task %s: %s" % (task, states))
    check(states["%s_0" % pre["array"]][0] == "FAILED", "pre-training: %s" % states)
    # the failure is kept in the point's folder (as a local run and a --jobs-file line keep it):
    # the collect job, and --status once Slurm has forgotten the job, report it
    rows = table(os.path.join(WORK, "pre", "sweep.csv"))
    check([r["status"] for r in rows] == ["failed", "failed"], "pre-training table %s" % rows)
    note = open(os.path.join(WORK, "pre", "defines.depth=1", "sweep-failed.txt")).read()
    check(note.startswith("trainer exit status 1 (Slurm job ") and "train.log" in note, "note: %r" % note)
    rows = table(os.path.join(WORK, "ft", "sweep.csv"))
    check([r["status"] for r in rows] == ["ok", "missing", "ok", "missing"], "table %s" % rows)
    p = run(HSICC, "sweep", "--status", os.path.join(WORK, "ft"))
    check("2 done, 0 running, 0 pending, 2 failed" in p.stdout and "DependencyNeverSatisfied" in p.stdout,
          "status:\n" + p.stdout)
    p = run(HSICC, "sweep", "ft.yaml", "--out", "ft", "--slurm", code=1)
    check("job %s_0, which was to write it, ended FAILED" % pre["array"] in p.stderr and
          "nothing to submit" in p.stdout, "resubmitted:\n" + p.stdout + p.stderr)


def steps_since_resume(log, n_resumed):
    """The last step shown after the n-th 'resuming at step' line of the log, or 0."""
    parts = log.split("resuming at step")
    if len(parts) <= n_resumed:
        return 0
    steps = re.findall(r"step (\d+)/", parts[n_resumed])
    return int(steps[-1]) if steps else 0


STEPS = 10000   # about 20 s on one core of the development machine


def t_requeue():
    t0 = time.time()

    def stage(what):
        print("%5.1f s  %s" % (time.time() - t0, what), flush=True)
    exp = experiment("ft.yaml", "long", "sweep:\n  defines.depth: [2]\n", WORK)
    y = open(exp).read().replace("iterations: 1,", "iterations: %d," % STEPS)
    open(exp, "w").write(y)
    sw = os.path.join(WORK, "sw")
    label = "defines.depth=2"
    run(HSICC, "sweep", exp, "--out", sw, "--slurm", "--cpus-per-task=1")
    first = jobs_of(sw)
    job = first["points"][0]["job"]
    # the uninterrupted run, with the same trainer, beside it
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ref = subprocess.Popen([os.path.join(sw, label, "build", "trainer"), "train", "--out",
                            os.path.join(WORK, "ref"), "--quiet"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log_path = os.path.join(sw, label, "train.log")

    def log():
        return open(log_path, errors="replace").read() if os.path.exists(log_path) else ""

    def requeued_and_restarted(what):
        # (for a moment after the requeue the job is PENDING with no reason yet: wait past it)
        def pending():
            st = squeue(job).get(job, [""])
            return st[0] == "PENDING" and st[1] not in (None, "None", "(null)", "") and st
        st = wait_for(what + ": the job pending again, with its reason", pending, 60)
        check(st[1] == "BeginTime", "requeued job waits for %s" % st)
        # Slurm holds a requeued job for two minutes: let it start now (but not in the second
        # its previous run was killed: that launch has a revoked credential, and fails)
        time.sleep(2)
        run("scontrol", "update", "JobId=" + job, "StartTime=now")

    for n in range(3):
        wait_for("training progress after resume %d" % n, lambda: steps_since_resume(log(), n) > 0, 120)
        check("metrics.json" not in os.listdir(os.path.join(sw, label)),
              "the training ended before it was interrupted (%d): make it longer" % n)
        stage("interruption %d at step %d" % (n + 1, steps_since_resume(log(), n)))
        if n == 0:
            run("scontrol", "requeue", job)
            requeued_and_restarted("scontrol requeue")
        elif n == 1:   # what Slurm sends before the time limit (--signal=B:USR1@120)
            run("scancel", "--batch", "--signal=USR1", job)
            wait_for("the job to requeue itself", lambda: "time limit near" in log(), 60)
            requeued_and_restarted("time limit")
        else:          # cancelled: a second submission resumes it
            run("scancel", first["array"], first["collect"])
            wait_ended([first["array"], first["collect"]], 60)
            p = run(HSICC, "sweep", exp, "--out", sw, "--slurm", "--cpus-per-task=1")
            second = jobs_of(sw)
            check(second["array"] != first["array"], "resubmitted:\n" + p.stdout)
            job = second["points"][0]["job"]
    ended = wait_ended([job.split("_")[0], jobs_of(sw)["collect"]], 150)
    stage("the resubmitted job and its collect job ended")
    check(all(v[0] == "COMPLETED" for v in ended.values()), "final job states %s" % ended)
    check(ref.wait(timeout=300) == 0, "the uninterrupted run failed:\n" + ref.stderr.read())
    stage("the uninterrupted run ended")
    text = log()
    resumed = [int(s) for s in re.findall(r"resuming at step (\d+)", text)]
    check(len(resumed) == 3 and 0 < resumed[0] < resumed[1] < resumed[2] < STEPS,
          "three resumes from saved states: %s\n%s" % (resumed, text[-3000:]))
    check(text.count("the state is saved") == 3, "three stops that saved the state:\n" + text[-3000:])
    got = weights(sw, label)
    check(got == open(os.path.join(WORK, "ref", "run0", "last.safetensors"), "rb").read(),
          "the interrupted training ends with other weights than the uninterrupted one")
    a = json.load(open(os.path.join(sw, label, "run0", "metrics.json")))
    b = json.load(open(os.path.join(WORK, "ref", "run0", "metrics.json")))
    check(a["oa"] == b["oa"] and a["steps"] == b["steps"] == STEPS, "metrics %s vs %s" % (a, b))
    print("resumed at steps", resumed)


def t_unreachable():
    exp = experiment("cd2.yaml", "pre", "sweep:\n  defines.depth: [1, 2]\n", WORK)
    out = os.path.join(WORK, "sw")
    # not installed: no sbatch on the PATH
    env = dict(os.environ, PATH=os.path.join(WORK, "empty"))
    p = run(HSICC, "sweep", exp, "--out", out, "--slurm", code=1, env=env)
    check(p.stderr.count("error") == 1 and "Slurm's commands" in p.stderr and
          "not installed" in p.stderr, "not installed:\n" + p.stderr)
    # installed, SLURM_CONF names no file
    env = dict(os.environ, SLURM_CONF=os.path.join(WORK, "no.conf"))
    p = run(HSICC, "sweep", exp, "--out", out, "--slurm", code=1, env=env)
    check(p.stderr.count("error") == 1 and "no.conf: no such file" in p.stderr, "no conf:\n" + p.stderr)
    # configured, but no controller answers
    conf = os.path.join(WORK, "down.conf")
    open(conf, "w").write("ClusterName=down\nSlurmctldHost=localhost(127.0.0.1)\n"
                          "SlurmctldPort=%d\nAuthType=auth/munge\n"
                          "NodeName=n1 CPUs=1\nPartitionName=p Nodes=n1\n" % cluster.free_port())
    env = dict(os.environ, SLURM_CONF=conf)
    t0 = time.time()
    p = run(HSICC, "sweep", exp, "--out", out, "--slurm", code=1, env=env)
    check("Slurm does not answer" in p.stderr and "Unable to contact slurm controller" in p.stderr,
          "controller down:\n" + p.stderr)
    print("controller down reported after %.1f s" % (time.time() - t0))
    check(not os.path.exists(out), "something was built or written")
    # options that do not go with --slurm
    p = run(HSICC, "sweep", exp, "-j", "2", "--slurm", code=2)
    check("does not go with -j" in p.stderr, "-j --slurm:\n" + p.stderr)


def on_term(*_):
    raise SystemExit("terminated")


if __name__ == "__main__":
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    signal.signal(signal.SIGTERM, on_term)
    if TEST == "unreachable":
        if not shutil.which("sinfo"):
            print("skipped: slurm-wlm is not installed")
            sys.exit(77)
        t_unreachable()
    else:
        why = cluster.missing()
        if why:
            print("skipped:", why)
            sys.exit(77)
        t0 = time.time()
        with cluster.Cluster() as CL:
            print("cluster up in %.1f s" % (time.time() - t0))
            globals()["t_" + TEST]()
    print("ok")
