#!/usr/bin/python3
"""infer.symbols: every external symbol of an inference module's runtime (hsirt/, hsicc emit
--infer) carries the project's prefix, so that it cannot clash with a user's program.

Usage: symbols_test.py HSICC WORKDIR DNNL(0|1)

The module of a small net is emitted (--name sym), each .c of hsirt/ and the module compiled to
an object (with -DHSICC_WITH_DNNL=1 when DNNL is 1, else the reference kernels alone), and `nm`
lists the defined global symbols: each must start with hsi_, hk_, hsirt_ or the module's own
sym_ (its API). The runtime's reference kernels were exported as ref_conv_fwd_d, ref_pool_init,
... (a user's ref_out_size clashed at link time). Exit 0 pass, 1 fail.
"""
import os
import re
import shutil
import subprocess
import sys

HSICC, WORK, DNNL = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3] == "1"
NET = """net sym_net(bands = 6, classes = 3, patch = 5) {
  input [bands, patch, patch]
  conv2d(8, 3, pad = same, name = c1) bn(name = b1) relu maxpool(2)
  conv2d(8, 3, pad = same, name = c2) relu
  avgpool(global) dropout(0.5) dense(classes, name = head)
  loss softmax_cross_entropy
}
"""
ALLOWED = re.compile(r"^(hsi_|hk_|hsirt_|sym_)")


def run(*args):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=WORK)
    if p.returncode:
        print("FAIL: %s: exit %d\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        sys.exit(1)
    return p.stdout


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    with open(os.path.join(WORK, "sym.hsn"), "w") as f:
        f.write(NET)
    run(HSICC, "emit", "sym.hsn", "--infer", "--name", "sym", "-o", "m")
    rt = sorted("m/hsirt/" + f for f in os.listdir(os.path.join(WORK, "m", "hsirt")) if f.endswith(".c"))
    # with oneDNN every file is compiled, with all it defines (a superset of the reference build)
    kinds = [("oneDNN", rt, ["-DHSICC_WITH_DNNL=1"])] if DNNL else \
        [("reference", [f for f in rt if not f.endswith("/dnnl.c")], [])]
    bad = {}
    for kind, files, defs in kinds:
        for src in files + ["m/sym_infer.c"]:
            obj = "%s.%s.o" % (os.path.basename(src)[:-2], kind)
            run("cc", "-std=c11", "-O0", "-fopenmp", *defs, "-Im", "-Im/hsirt", "-c", src, "-o", obj)
            for line in run("nm", "-g", "--defined-only", obj).splitlines():
                parts = line.split()
                if len(parts) == 3 and not ALLOWED.match(parts[2]):
                    bad.setdefault(parts[2], src)
    if bad:
        print("FAIL: %d global symbol(s) of the inference module without the hsi_/hk_/hsirt_ "
              "prefix (or the module's sym_):" % len(bad))
        for name in sorted(bad):
            print("  %s (%s)" % (name, bad[name]))
        sys.exit(1)
    print("ok: every global symbol of hsirt/ and the module has an allowed prefix")


main()
