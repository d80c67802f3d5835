"""proc.py — the Python oracle drivers' one way to run a program (tests/oracle/torch_check.py,
tests/zoo/zoo_check.py): echo the command, fail with its whole output on a non-zero exit."""
import subprocess


class Failure(Exception):
    """A check failed; the message says what and shows the program's output."""


def run(cmd):
    """Runs a command; returns its stdout (stderr merged); raises Failure on a non-zero exit."""
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise Failure("exit status %d:\n%s" % (p.returncode, p.stdout))
    return p.stdout
