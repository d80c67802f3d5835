#!/usr/bin/python3
"""infer.strict: inference modules (hsicc emit --infer) as a user builds them into a program.

Usage: strict_test.py HSICC WORKDIR DNNL(0|1)

Two modules of two nets in one program: `alpha` (a 2-D net, weights from a file) and `beta` (a
3-D net with two domains, a shared block and a decoder head, weights embedded), both built on
one hsirt/ (the two copies are identical).

- every compiler found (gcc, clang) with -std=c11 -Wall -Wextra -Werror -pedantic, with and
  without -fopenmp, with the reference kernels alone (hsirt/ without dnnl.c) and with oneDNN:
  the two modules, the whole hsirt/ and the consumer compile without a warning; the header
  compiles as C++ too (g++ / clang++ -pedantic);
- linked into one program (tests/infer/two_models.c; no symbol clashes), models of their own
  on 4 threads at once give what they give on one thread, byte for byte (each padding, both
  domains, patches);
- oneDNN asked of a build without it: create refuses, with a message that says so.
No data set needed (the weights are drawn here). Exit 0 pass, 1 fail.
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
from module_weights import random_weights  # noqa: E402

HSICC, WORK, DNNL = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3] == "1"
STRICT = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"]

ALPHA = """net alpha_net(bands = 6, classes = 3, patch = 3) {
  input [bands, patch, patch]
  conv2d(8, 3, pad = same, name = c1) bn(name = b1) relu
  avgpool(global) dense(classes, name = head)
  loss softmax_cross_entropy
}
"""

BETA = """shared block trunk() {
  conv3d(4, [3, 1, 1], pad = [1, 0, 0], name = c) bn(name = b) relu
}
net beta_net(bands, classes, patch = 5) {
  input [1, bands, patch, patch]
  z = conv3d(4, [3, 1, 1], name = stem) bn(name = stem_bn) relu trunk
  rec = z flatten dense(bands, name = dec)
  logits = z conv3d(6, [1, 3, 3], name = c2) relu maxpool([2, 1, 1]) flatten dense(classes, name = fc)
  loss mse(head = rec, target = centre_spectrum, weight = 0.5)
  loss softmax_cross_entropy(head = logits)
}
"""
BETA_DOMAINS = ["--domain", "a:bands=16,classes=3", "--domain", "b:bands=10,classes=4"]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(*args, env=None):
    args = [str(a) for a in args]
    print("$ " + " ".join(args), flush=True)
    p = subprocess.run(args, capture_output=True, text=True, cwd=WORK, env=env)
    if p.returncode:
        fail("exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr))
    return p.stdout


def compilers():
    found = [(c, cxx) for c, cxx in (("gcc", "g++"), ("clang", "clang++")) if shutil.which(c)]
    if not found:
        fail("no C compiler (gcc or clang) found")
    return found


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    for name, text in (("alpha.hsn", ALPHA), ("beta.hsn", BETA)):
        with open(os.path.join(WORK, name), "w") as f:
            f.write(text)
    run(HSICC, "emit", "alpha.hsn", "--infer", "--name", "alpha", "-o", "a")
    random_weights(os.path.join(WORK, "a", "alpha_infer.c"), os.path.join(WORK, "alpha.safetensors"))
    run(HSICC, "emit", "beta.hsn", *BETA_DOMAINS, "--infer", "--name", "beta", "-o", "b0")
    random_weights(os.path.join(WORK, "b0", "beta_infer.c"), os.path.join(WORK, "beta.safetensors"))
    run(HSICC, "emit", "beta.hsn", *BETA_DOMAINS, "--infer", "--name", "beta", "-o", "b",
        "--weights", "beta.safetensors")
    run("diff", "-r", "a/hsirt", "b/hsirt")   # one hsirt/ serves both modules

    consumer = os.path.join(HERE, "two_models.c")
    rt = sorted(os.path.join("a", "hsirt", f) for f in os.listdir(os.path.join(WORK, "a", "hsirt"))
                if f.endswith(".c"))
    rt_ref = [f for f in rt if not f.endswith("/dnnl.c")]
    inc = ["-Ia", "-Ib", "-Ia/hsirt"]
    sources = ["a/alpha_infer.c", "b/beta_infer.c", consumer]
    kinds = [("reference", rt_ref, [])] + ([("oneDNN", rt, ["-DHSICC_WITH_DNNL=1"])] if DNNL else [])
    for cc, cxx in compilers():
        for kind, files, defs in kinds:
            for omp in ([], ["-fopenmp"]):
                print("%s, %s%s: strict" % (cc, kind, ", OpenMP" if omp else ""))
                run(cc, *STRICT, *omp, *defs, *inc, "-fsyntax-only", *sources, *files)
        if shutil.which(cxx):
            with open(os.path.join(WORK, "use.cpp"), "w") as f:
                f.write('#include "alpha_infer.h"\n#include "beta_infer.h"\n'
                        "int main() { int b, k, p; alpha_shape(0, &b, &k, &p); beta_shape(1, &b, &k, &p);"
                        " return b; }\n")
            run(cxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", *inc, "-fsyntax-only", "use.cpp")

    cc = compilers()[0][0]
    env = dict(os.environ, OMP_NUM_THREADS="2")
    for kind, files, defs in kinds:
        exe = "two_" + kind
        run(cc, *STRICT, "-O0", "-fopenmp", *defs, *inc, *sources, *files, "-o", exe, "-lm", "-lpthread",
            *(["-ldnnl"] if defs else []))
        for onednn in ((0, 1) if defs else (0,)):
            out = run("./" + exe, "alpha.safetensors", onednn, env=env)
            print(out.strip())
            if out.strip().splitlines()[-1] != "same":
                fail("%s, onednn %d: %s" % (kind, onednn, out))
        if not defs:   # oneDNN asked of the reference-only build
            out = run("./" + exe, "alpha.safetensors", 1, env=env)
            print(out.strip())
            if not out.startswith("refused: alpha: oneDNN is not built in (this build has the "
                                  "reference kernels only: compile with -DHSICC_WITH_DNNL=1 and "
                                  "link -ldnnl, or use the reference kernels)"):
                fail("oneDNN in a reference-only build: " + out)
    print("PASS")


if __name__ == "__main__":
    main()
