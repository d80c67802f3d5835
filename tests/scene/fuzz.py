#!/usr/bin/env python3
"""A fuzz run of the scene equality (not a CTest test: many nets, minutes to hours).

fuzz.py BUILD_DIR WORK_DIR GEN FIRST COUNT [SIZES]
  GEN: scene   tests/scene/random_nets.py nets, COUNT of them from seed FIRST
       x       the EXTRA nets of random_nets.py (netx), COUNT of them from seed FIRST (a first
               line `# emit: ...` gives hsicc emit's options: two domains)
       onnx    tests/onnx/random_net.make(seed) for seeds FIRST .. FIRST + COUNT - 1
  SIZES: "HxW,HxW,..." scenes each net is checked on (scene_check H W: both backends, every
         padding, 2-row, default and 1-row tiles, 2, 3 and 5 bands of rows, oneDNN against the
         reference loops); default 1x1,1x9,9x1,2x3,13x11
Each net is emitted (hsicc emit), compiled with tests/scene/scene_check.c and linked as CMake
links the scene_check_* tests of BUILD_DIR, and run. A failing net is kept in WORK_DIR/fail/ with its output; the exit status is
the number of failing nets (capped at 100)."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "onnx"))
import random_net  # noqa: E402


def build_flags(build):
    """The compile definitions and link line CMake gave scene_check_pixel (tests/scene), without
    its objects: the fuzz binaries link like the CTest ones."""
    d = os.path.join(build, "tests", "scene", "CMakeFiles", "scene_check_pixel.dir")
    with open(os.path.join(d, "flags.make")) as f:
        defs = [t for line in f if line.startswith("C_DEFINES")
                for t in line.split("=", 1)[1].split() if not t.startswith("-DNET=")]
    with open(os.path.join(d, "link.txt")) as f:   # cc FLAGS OBJECTS -o NAME LIBS...
        words = f.read().split()
    libs = [os.path.normpath(os.path.join(os.path.dirname(d), "..", t)) if t.endswith(".a")
            and not os.path.isabs(t) else t for t in words[words.index("-o") + 2:]]
    cflags = ["-O2", "-std=c11", *defs, "-I", os.path.join(ROOT, "runtime", "include")]
    return cflags, libs


def nets(gen, first, count, work):
    """[(name, netdef path, hsicc emit extra args)]"""
    out = []
    if gen == "scene":
        d = os.path.join(work, "nets")
        subprocess.run([sys.executable, os.path.join(HERE, "random_nets.py"), d, str(count),
                        str(first)], check=True)
        for i in range(count):
            out.append(("s%d_%d" % (first, i), os.path.join(d, "rnd%d.hsn" % i), []))
    elif gen == "x":
        d = os.path.join(work, "nets")
        subprocess.run([sys.executable, os.path.join(HERE, "random_nets.py"), d, "0",
                        str(first), str(count)], check=True)
        for i in range(count):
            p = os.path.join(d, "rndx%d.hsn" % i)
            with open(p) as f:
                line = f.readline()
            out.append(("x%d_%d" % (first, i), p,
                        line[len("# emit: "):].split() if line.startswith("# emit: ") else []))
    else:
        d = os.path.join(work, "nets")
        os.makedirs(d, exist_ok=True)
        for s in range(first, first + count):
            p = os.path.join(d, "onnx%d.hsn" % s)
            with open(p, "w") as f:
                f.write(random_net.make(s)[0])
            out.append(("o%d" % s, p, []))
    return out


def main():
    build, work, gen, first, count = sys.argv[1:6]
    first, count = int(first), int(count)
    sizes = [tuple(map(int, s.split("x"))) for s in
             (sys.argv[6] if len(sys.argv) > 6 else "1x1,1x9,9x1,2x3,13x11").split(",")]
    build, work = os.path.abspath(build), os.path.abspath(work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "fail"))
    hsicc = os.path.join(build, "compiler", "hsicc")
    cdir = os.path.join(work, "c")
    os.makedirs(cdir)
    CFLAGS, LIBS = build_flags(build)
    sc_o = os.path.join(cdir, "scene_check.o")
    subprocess.run(["cc", *CFLAGS, "-DNET=fz_net", "-I", cdir, "-c",
                    os.path.join(HERE, "scene_check.c"), "-o", sc_o], check=True)
    fails = 0
    for name, path, extra in nets(gen, first, count, work):
        p = subprocess.run([hsicc, "emit", path, "-o", cdir, "--name", "fz", *extra],
                           capture_output=True, text=True)
        log = p.stdout + p.stderr
        if p.returncode != 0:
            why = "emit exit %d" % p.returncode
        else:
            p = subprocess.run(["cc", *CFLAGS, "-I", cdir, os.path.join(cdir, "fz.c"), sc_o, *LIBS, "-o",
                                os.path.join(cdir, "x")], capture_output=True, text=True)
            log += p.stdout + p.stderr
            why = "cc exit %d" % p.returncode if p.returncode else None
            for h, w in sizes if not why else []:
                try:
                    p = subprocess.run([os.path.join(cdir, "x"), str(h), str(w)],
                                       capture_output=True, text=True, timeout=300,
                                       env=dict(os.environ, OMP_NUM_THREADS="1"))
                    log += "== %dx%d\n%s%s" % (h, w, p.stdout, p.stderr)
                    if p.returncode:
                        why = "%dx%d exit %d" % (h, w, p.returncode)
                        break
                except subprocess.TimeoutExpired:
                    why = "%dx%d timeout" % (h, w)
                    break
        print("%s %s" % (name, "FAIL " + why if why else "ok"), flush=True)
        if why:
            fails += 1
            shutil.copy(path, os.path.join(work, "fail", name + ".hsn"))
            with open(os.path.join(work, "fail", name + ".log"), "w") as f:
                f.write(log)
    print("%d of %d nets failed" % (fails, count))
    sys.exit(min(fails, 100))


if __name__ == "__main__":
    main()
