"""A single-node Slurm cluster on localhost for the tests: its own munge daemon (key and socket in
a temporary folder), slurmctld and slurmd started in the foreground from a generated slurm.conf
(free ports, state and spool in the folder, proctrack/linuxproc, task/none, no cgroups, no
accounting). Clients reach it through SLURM_CONF, which start() puts into os.environ so that
hsicc, sbatch and the jobs (sbatch exports the environment) all see it. stop() cancels every job
and ends the three daemons it started, by their pids; use it as a context manager so that this
happens on failure too.

Needs root (slurmd launches the jobs) and Debian's slurm-wlm and munge: missing() says why not.
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DAEMONS = ["munged", "slurmctld", "slurmd"]


def missing():
    """Why a cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "not root (slurmd must run as root to launch jobs)"
    for prog in DAEMONS + ["sbatch", "squeue", "scontrol", "sinfo", "scancel"]:
        if not shutil.which(prog, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            return "%s is not installed (apt-get install slurm-wlm munge; ./hsi setup does)" % prog
    return None


def _die_with_parent():
    """A daemon gets SIGTERM when the test dies (killed by a CTest timeout, say)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, cpus=None):
        self.cpus = cpus or os.cpu_count()
        self.dir = tempfile.mkdtemp(prefix="hsicc-slurm-")
        self.procs = []
        self.env_before = os.environ.get("SLURM_CONF")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _spawn(self, name, args):
        log = open(self.path(name + ".out"), "w")
        sbin = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
        p = subprocess.Popen([shutil.which(args[0], path=sbin)] + args[1:], stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir,
                             preexec_fn=_die_with_parent)
        self.procs.append((name, p))
        return p

    def logs(self):
        """The daemons' logs (for a failure report)."""
        out = []
        for name in ["munged.out", "slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"]:
            try:
                text = open(self.path(name), errors="replace").read()
            except OSError:
                continue
            out.append("---- %s (end)\n%s" % (name, text[-3000:]))
        return "\n".join(out)

    def start(self, timeout=60):
        d = self.dir
        os.chmod(d, 0o700)
        key = self.path("munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        sock = self.path("munge.sock")
        self._spawn("munged", ["munged", "-F", "-f", "--socket=" + sock, "--key-file=" + key,
                               "--log-file=" + self.path("munged.log"),
                               "--pid-file=" + self.path("munged.pid"),
                               "--seed-file=" + self.path("munged.seed")])
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        host = socket.gethostname().split(".")[0]
        os.makedirs(self.path("state"))
        os.makedirs(self.path("spool"))
        conf = "\n".join([
            "ClusterName=hsicctest",
            "SlurmctldHost=%s(127.0.0.1)" % host,
            "SlurmctldPort=%d" % free_port(),
            "SlurmdPort=%d" % free_port(),
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            "AuthInfo=socket=" + sock,
            "StateSaveLocation=" + self.path("state"),
            "SlurmdSpoolDir=" + self.path("spool"),
            "SlurmctldPidFile=" + self.path("slurmctld.pid"),
            "SlurmdPidFile=" + self.path("slurmd.pid"),
            "SlurmctldLogFile=" + self.path("slurmctld.log"),
            "SlurmdLogFile=" + self.path("slurmd.log"),
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerType=sched/backfill",
            "SchedulerParameters=sched_interval=2,bf_interval=2",   # start what waits at once
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none",
            "ReturnToService=2",
            "KillWait=10",
            "MailProg=/bin/true",
            "NodeName=hsinode NodeAddr=127.0.0.1 NodeHostname=%s CPUs=%d State=UNKNOWN"
            % (host, self.cpus),
            "PartitionName=test Nodes=hsinode Default=YES MaxTime=INFINITE State=UP",
            ""])
        with open(self.path("slurm.conf"), "w") as f:
            f.write(conf)
        os.environ["SLURM_CONF"] = self.path("slurm.conf")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"])
        self._spawn("slurmd", ["slurmd", "-D", "-N", "hsinode"])
        end = time.time() + timeout
        while time.time() < end:
            for name, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("%s ended (exit %s) while starting\n%s"
                                       % (name, p.returncode, self.logs()))
            r = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.strip() in ("idle", "mixed", "allocated"):
                return self
            time.sleep(0.5)
        raise RuntimeError("the cluster did not come up in %d s\n%s" % (timeout, self.logs()))

    def stop(self):
        if any(n == "slurmctld" and p.poll() is None for n, p in self.procs):
            subprocess.run(["scancel", "--full", "--partition=test"], capture_output=True)
            for _ in range(40):   # the jobs' processes end before slurmd does
                r = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True)
                if r.returncode != 0 or not r.stdout.strip():
                    break
                time.sleep(0.5)
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        if self.env_before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self.env_before
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False
