#!/usr/bin/python3
"""infer.embedded: an inference module with embedded weights (hsicc emit --infer --weights) uses
them in place: its create(NULL) added a private copy of every weight (Luo's net: 415 MB twice).

Usage: embedded_test.py HSICC WORKDIR

A net of 1.06 M parameters (4.2 MB), emitted with its weights embedded, linked with hsirt/'s
reference kernels into tests/infer/embedded.c: create(NULL) must add less than a quarter of the
weights' size in anonymous memory (RssAnon; a copy adds all of it, as create(FILE) does, which
the test checks too, so the measure is known to see it), and both models' logits must be equal.
Exit 0 pass, 1 fail.
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
from module_weights import random_weights  # noqa: E402

HSICC, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
NET = """net big(bands = 8, classes = 5, patch = 3) {
  input [bands, patch, patch]
  conv2d(16, 3, name = c1) bn(name = b1) relu flatten
  dense(1024, name = d1) relu dense(1024, name = d2) relu dense(classes, name = head)
  loss softmax_cross_entropy
}
"""


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(*args):
    args = [str(a) for a in args]
    print("$ " + " ".join(args), flush=True)
    p = subprocess.run(args, capture_output=True, text=True, cwd=WORK)
    if p.returncode:
        fail("exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr))
    return p.stdout


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    with open(os.path.join(WORK, "big.hsn"), "w") as f:
        f.write(NET)
    run(HSICC, "emit", "big.hsn", "--infer", "-o", "plain")
    n = random_weights(os.path.join(WORK, "plain", "big_infer.c"), os.path.join(WORK, "w.safetensors"),
                       scale=0.05, seed=1)
    if n < 1_000_000:
        fail("the net has %d parameters: too few to see a copy" % n)
    run(HSICC, "emit", "big.hsn", "--infer", "--weights", "w.safetensors", "-o", "m")
    rt = sorted(os.path.join("m", "hsirt", f) for f in os.listdir(os.path.join(WORK, "m", "hsirt"))
                if f.endswith(".c") and f != "dnnl.c")
    cc = "gcc" if shutil.which("gcc") else "clang"
    run(cc, "-std=c11", "-O1", "-Im", "-Im/hsirt", "m/big_infer.c", os.path.join(HERE, "embedded.c"),
        *rt, "-o", "embedded", "-lm", "-lpthread")
    out = run("./embedded", "w.safetensors").strip()
    print(out)
    got = dict(kv.split("=") for kv in out.split())
    weights_kb = n * 4 // 1024
    emb, fil = int(got["embedded_kb"]), int(got["file_kb"])
    if got["same"] != "1":
        fail("the embedded weights' logits differ from the file's")
    if fil < 0.9 * weights_kb:
        fail("create(FILE) added %d kB for %d kB of weights: RssAnon does not see a copy" % (fil, weights_kb))
    if emb > weights_kb // 4:
        fail("create(NULL) added %d kB of private memory for %d kB of embedded weights: a copy" %
             (emb, weights_kb))
    print("PASS: create(NULL) +%d kB, create(FILE) +%d kB, weights %d kB" % (emb, fil, weights_kb))


if __name__ == "__main__":
    main()
