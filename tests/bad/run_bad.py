#!/usr/bin/python3
"""run_bad.py — the bad-input corpus: one runner for every case table (tests/bad/README.md).

usage: run_bad.py --hsicc HSICC --work DIR [--category NAME ...] [--case SUBSTRING] [--setup] [-v]

Sources of cases (each asserts the exit status AND a message, see README.md):
  tests/bad/cases/<category>.cases   hand-written cases, one category per file
  tests/front/bad/*.hsn              the netdef corpus, run with `hsicc check` (category netdefs)
  tests/train/bad/*.yaml             the experiment corpus, run with `hsicc build` (category
                                     experiments; test_train_config_bad checks the same files
                                     through the library, without the command's exit status)
Every case also fails on a crash signal (status > 128), a sanitizer report, a hang (timeout) or
a temporary file (*.tmp.*, *.part.*) left in its folder.
"""
import argparse
import concurrent.futures
import fcntl
import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"
SANITIZER = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error: |"
                       r"SUMMARY: UndefinedBehaviorSanitizer")
TEMP = re.compile(r"\.tmp\.|\.part\.\d")
SHOW = False
KEYS = {"file", "setup", "run", "status", "stderr", "stdout", "after", "timeout", "cleanup",
        "bg", "wait", "needs", "limit"}


class Case:
    def __init__(self, category, name, where):
        self.category, self.name, self.where = category, name, where
        self.files = []          # [name, [lines]]
        self.setup, self.after, self.cleanup, self.bg = [], [], [], []
        self.stderr, self.stdout = [], []
        self.run = None
        self.status = None
        self.timeout = 20.0
        self.wait = None
        self.needs = []
        self.limit = None
        self.literal = None      # imported cases: an exact first error line


def parse_cases(path):
    """The .cases format: '== name' starts a case, 'key: value' lines fill it, '| text' lines
    are the content of the preceding 'file:'; '#' lines and blank lines are comments."""
    category = os.path.basename(path)[:-len(".cases")]
    cases, c = [], None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines, 1):
        where = "%s:%d" % (os.path.relpath(path, SRC), i)
        if line.startswith("== "):
            c = Case(category, line[3:].strip(), where)
            cases.append(c)
            continue
        if line.startswith("|"):
            if not c or not c.files:
                sys.exit("%s: '|' line outside a file:" % where)
            c.files[-1][1].append(line[2:] if line.startswith("| ") else line[1:])
            continue
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, val = line.partition(":")
        if not sep or key not in KEYS or not c:
            sys.exit("%s: expected '== name', 'key: value' (%s) or '| text'" % (where, " ".join(sorted(KEYS))))
        val = val.strip()
        if key == "file":
            c.files.append([val, []])
        elif key in ("setup", "after", "cleanup", "bg"):
            getattr(c, key).append(val)
        elif key in ("stderr", "stdout"):
            getattr(c, key).append(re.compile(val, re.M))
        elif key == "run":
            c.run = val
        elif key == "status":
            c.status = int(val)
        elif key == "timeout":
            c.timeout = float(val)
        elif key == "wait":
            c.wait = val
        elif key == "needs":
            c.needs = val.split()
        elif key == "limit":
            c.limit = int(val)
            if c.limit % 512:
                sys.exit("%s: limit: a multiple of 512 bytes (ulimit -f counts blocks)" % where)
    for c in cases:
        if c.run is None or c.status is None or (not c.stderr and not c.stdout):
            sys.exit("%s: case '%s' needs run:, status: and a stderr: (or stdout:) regex"
                     % (c.where, c.name))
    names = [c.name for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit("%s: duplicate case names %s" % (path, sorted(dup)))
    return cases


def imported_netdefs():
    """tests/front/bad/*.hsn: `hsicc check` exits 1 and its first error is the `# expect:` line
    (the rule of tests/front/run_netdef.sh)."""
    out = []
    for f in sorted(glob.glob(os.path.join(SRC, "tests/front/bad/*.hsn"))):
        side = f[:-4] + ".expect"
        meta = open(side if os.path.exists(side) else f, encoding="utf-8", errors="replace").read()
        args = " ".join(re.findall(r"^# args: (.*)$", meta, re.M))
        expect = re.findall(r"^# expect: (.*)$", meta, re.M)[0]
        if expect[0].isdigit():
            want = f + ":" + expect
        elif expect.startswith("hsicc:"):
            want = expect
        else:
            want = f + ": " + expect
        c = Case("netdefs", "front/bad/" + os.path.basename(f), os.path.relpath(f, SRC))
        c.run = "$HSICC check %s %s" % (shlex.quote(f), args)
        c.status = 1
        c.literal = want
        out.append(c)
    return out


def imported_experiments():
    """tests/train/bad/*.yaml: `hsicc build` exits 1 and prints the `# expect:` line."""
    out = []
    for f in sorted(glob.glob(os.path.join(SRC, "tests/train/bad/*.yaml"))):
        meta = open(f, encoding="utf-8", errors="replace").read()
        expect = re.findall(r"^# expect: (.*)$", meta, re.M)[0]
        sets = " ".join("--set " + shlex.quote(s) for s in re.findall(r"^# set: (.*)$", meta, re.M))
        c = Case("experiments", "train/bad/" + os.path.basename(f), os.path.relpath(f, SRC))
        c.run = "cd %s && $HSICC build %s -o \"$CASE/t\" %s" % (
            shlex.quote(os.path.dirname(f)), os.path.basename(f), sets)
        c.status = 1
        c.stderr = [re.compile(re.escape(expect))]
        out.append(c)
    return out


# ---- the shared fixture: synthetic datasets, the tiny trainer, one finished run -----------------

def setup_shared(hsicc, shared):
    os.makedirs(shared, exist_ok=True)
    with open(os.path.join(shared, ".lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(shared, "ready")):
            return
        for d in ("data", "run", "tr", "tr.src"):
            shutil.rmtree(os.path.join(shared, d), ignore_errors=True)
        env = case_env(hsicc, shared, shared)
        mk = [PY, os.path.join(HERE, "mk.py")]
        reg = os.path.join(shared, "datasets.yaml")
        if os.path.exists(reg):
            os.remove(reg)
        for fmt, name in (("npy", "Syn"), ("envi", "SynEnvi"), ("mat", "SynMat")):
            subprocess.run(mk + ["scene", os.path.join(shared, "data"), name, "--fmt", fmt,
                                 "--reg", reg], check=True)
        for fmt in ("npy", "envi", "mat"):   # the scene 'Bad' that dataset cases copy and break
            d = os.path.join(shared, "bad-" + fmt)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            subprocess.run(mk + ["scene", os.path.join(d, "data"), "Bad", "--fmt", fmt, "--reg",
                                 os.path.join(d, "reg.yaml")], check=True)
        for f in ("tiny.hsn", "tiny.yaml", "tiny-sweep.yaml"):
            shutil.copy(os.path.join(HERE, "assets", f), shared)
        t0 = time.time()
        subprocess.run([hsicc, "build", "tiny.yaml", "-o", "tr"], cwd=shared, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([os.path.join(shared, "tr"), "train", "--out", "run", "--quiet"], cwd=shared,
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        open(os.path.join(shared, "ready"), "w").write("%.1f s\n" % (time.time() - t0))


def case_env(hsicc, shared, case_dir):
    e = dict(os.environ)
    e.pop("HSICC_DATA_MIRROR", None)
    e.update(HSICC=hsicc, SHARED=shared, CASE=case_dir, SRC=SRC, PY=PY,
             MK="%s %s" % (PY, os.path.join(HERE, "mk.py")),
             TR=os.path.join(shared, "tr"), W=os.path.join(shared, "run", "run0", "best.safetensors"),
             HSICC_DATASETS=os.path.join(shared, "datasets.yaml"),
             HSICC_DATA=os.path.join(shared, "data"), OMP_NUM_THREADS="1",
             HSI_FETCH=os.path.join(os.path.dirname(os.path.dirname(hsicc)), "runtime", "hsi-fetch"))
    return e


# ---- running one case -----------------------------------------------------------------------------

def sh(cmd, env, cwd, timeout, limit=None):
    if limit is not None:   # RLIMIT_FSIZE in 512-byte blocks (sh's ulimit -f), for cmd only
        cmd = "ulimit -f %d && %s" % (limit // 512, cmd)
    p = subprocess.Popen(["sh", "-c", cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err, False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return None, out, err, True


def stop_group(b, sig):
    """Signals b's process group (b and what it started) and waits until all of it is gone:
    SIGKILL after 30 s."""
    t = time.time() + 30
    try:
        os.killpg(b.pid, sig)
        while True:
            b.poll()
            os.killpg(b.pid, 0)   # ProcessLookupError once the group is empty
            if time.time() > t:
                os.killpg(b.pid, signal.SIGKILL)
                t = time.time() + 30
            time.sleep(0.02)
    except ProcessLookupError:
        pass
    b.wait()


def unmount_below(d):
    try:
        with open("/proc/mounts") as f:
            points = [l.split()[1] for l in f]
    except OSError:
        return
    for m in sorted(points, key=len, reverse=True):
        if m == d or m.startswith(d + "/"):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)


def run_case(c, hsicc, shared, work):
    d = os.path.join(work, c.category, re.sub(r"[^A-Za-z0-9_.-]", "_", c.name))
    unmount_below(d)   # mounts a killed earlier run left (its cleanup never ran)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    env = case_env(hsicc, shared, d)
    for name, lines in c.files:
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))
    bgs = []
    problems = []
    try:
        for s in c.setup:
            rc, out, err, hung = sh(s, env, d, 60)
            if rc != 0:
                return "setup '%s' failed (exit %s):\n%s%s" % (s, rc, out, err)
        for b in c.bg:
            bgs.append(subprocess.Popen(["sh", "-c", b], cwd=d, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True))
        if c.wait:
            t = time.time() + 20
            while not os.path.exists(os.path.join(d, c.wait)) and time.time() < t:
                time.sleep(0.02)
            if not os.path.exists(os.path.join(d, c.wait)):
                return "the background command never made %s" % c.wait
        rc, out, err, hung = sh(c.run, env, d, c.timeout, c.limit)
        if hung:
            problems.append("still running after %g s (a hang?)" % c.timeout)
        elif (rc > 128 or rc < 0) and rc != c.status:
            problems.append("killed by signal %d" % (rc - 128 if rc > 128 else -rc))
        elif rc != c.status:
            problems.append("exit status %d, expected %d" % (rc, c.status))
        if SANITIZER.search(err):
            problems.append("sanitizer report")
        if c.literal is not None:
            first = next((l for l in err.split("\n") if ": error: " in l or l.startswith("hsicc: error: ")), "")
            if first != c.literal:
                problems.append("first error is\n  %s\nexpected\n  %s" % (first, c.literal))
        for r in c.stderr:
            if not r.search(err):
                problems.append("stderr does not match /%s/" % r.pattern)
        for r in c.stdout:
            if not r.search(out):
                problems.append("stdout does not match /%s/" % r.pattern)
        for a in c.after:
            arc, aout, aerr, _ = sh(a, env, d, 60)
            if arc != 0:
                problems.append("check '%s' failed:\n%s%s" % (a, aout, aerr))
        for b in bgs:   # SIGTERM to the whole group, and wait for every process in it to end
            stop_group(b, signal.SIGTERM)
        bgs = []
        left = [os.path.join(r, f) for r, ds, fs in os.walk(d) for f in fs + ds if TEMP.search(f)]
        if left:
            problems.append("temporary files left: %s" % ", ".join(os.path.relpath(x, d) for x in left))
        if SHOW:
            print("---- %s/%s: exit %s\n%s%s" % (c.category, c.name, rc, err[-1500:], out[-500:] if c.stdout else ""))
        if problems:
            return "%s\n--- command: %s\n--- exit %s, stdout:\n%s--- stderr:\n%s" % (
                "\n".join(problems), c.run, rc, out[-3000:], err[-3000:])
        return None
    finally:
        for b in bgs:
            stop_group(b, signal.SIGKILL)
        for s in c.cleanup:
            sh(s, env, d, 30)


def can_mount():
    if os.geteuid() != 0:
        return False
    t = "/tmp/hsicc-bad-mount-probe.%d" % os.getpid()
    os.makedirs(t, exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", t],
                        stderr=subprocess.DEVNULL).returncode == 0
    if ok:
        subprocess.run(["umount", t])
    os.rmdir(t)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hsicc", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--category", action="append")
    ap.add_argument("--case")
    ap.add_argument("--setup", action="store_true", help="only build the shared fixture")
    ap.add_argument("--fresh", action="store_true", help="rebuild the shared fixture")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("-j", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--show", action="store_true", help="print every case's exit status and stderr")
    a = ap.parse_args()
    global SHOW
    SHOW = a.show
    hsicc, work = os.path.abspath(a.hsicc), os.path.abspath(a.work)
    shared = os.path.join(work, "shared")
    if a.fresh and os.path.exists(os.path.join(shared, "ready")):
        os.remove(os.path.join(shared, "ready"))
    setup_shared(hsicc, shared)
    if a.setup:
        print("shared fixture ready in", shared)
        return 0
    tables = sorted(glob.glob(os.path.join(HERE, "cases", "*.cases")))
    cases = imported_netdefs() + imported_experiments()
    for t in tables:
        cases += parse_cases(t)
    cats = a.category or sorted({c.category for c in cases})
    cases = [c for c in cases if c.category in cats and (not a.case or a.case in c.name)]
    mount = can_mount()
    counts, failed, skipped = {}, [], []
    t0 = time.time()
    skipped = [c for c in cases if "mount" in c.needs and not mount]
    cases = [c for c in cases if c not in skipped]

    def one(c):
        t = time.time()
        return run_case(c, hsicc, shared, work), time.time() - t
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.j) as ex:
        results = list(ex.map(one, cases))
    for c, (err, dt) in zip(cases, results):
        kind = "imported" if c.literal is not None or c.name.startswith("train/bad/") else "table"
        counts.setdefault(c.category, {"table": 0, "imported": 0})[kind] += 1
        if err:
            failed.append(c)
            print("FAIL %s/%s (%s)\n%s\n" % (c.category, c.name, c.where, err))
        elif a.v:
            print("ok   %s/%s  %.2f s" % (c.category, c.name, dt))
    total = 0
    print("bad-input corpus: cases per category (table = tests/bad/cases/*.cases, imported = "
          "tests/front/bad/*.hsn via hsicc check, tests/train/bad/*.yaml via hsicc build)")
    for cat in sorted(counts):
        n = counts[cat]
        total += n["table"] + n["imported"]
        print("  %-12s %4d  (table %d, imported %d)" % (cat, n["table"] + n["imported"], n["table"],
                                                          n["imported"]))
    print("  %-12s %4d  in %.1f s; %d failed%s" % ("total", total, time.time() - t0, len(failed),
          "; %d skipped (need root and mount: %s)" % (len(skipped), ", ".join(c.name for c in skipped))
          if skipped else ""))
    empty = [cat for cat in cats if cat not in counts]
    if empty:
        print("FAIL: no case ran in %s" % ", ".join(empty))
    return 1 if failed or empty else 0


if __name__ == "__main__":
    sys.exit(main())
