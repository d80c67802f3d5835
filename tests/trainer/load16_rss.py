#!/usr/bin/python3
"""load16_rss.py — a 16-bit scene is loaded for training at about its own size, not three times.

usage: load16_rss.py HSICC NETDEF WORKDIR
(the scenes are written by a child of this script, `load16_rss.py --make DIR NAME H W`: a child's
peak counts its parent's at the fork, so the driver itself never holds a scene or numpy.)
Two synthetic int16 MATLAB scenes (scipy.io.savemat, 100 bands): a small one (24 x 20) and a
larger one (640 x 256, 32.8 MB of int16). One trainer (hsicc build) trains a few steps on each;
the trainer's peak resident memory (wait4's ru_maxrss) on the larger one must stay below the
small one's plus 1.6 times the larger one's int16 samples. Before the cube was read in place
into its 16-bit form, matio's buffer and the float copy (then the floats and the 16-bit copy)
lived at once: about 3 times the int16 samples above the small one's.
"""
import os
import shutil
import subprocess
import sys

B = 100
SCENES = {"Small": (24, 20), "Large": (640, 256)}


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def make(d, h, w):
    import numpy as np
    import scipy.io as sio
    os.makedirs(d)
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:h, 0:w]
    gt = 1 + ((yy // 6) + (xx // 5)) % 3
    cube = np.empty((h, w, B), dtype=np.int16, order="F")
    for b in range(B):
        cube[:, :, b] = (1000 + 300 * np.sin(gt / 2.0 + b / 7.0)
                         + rng.normal(0, 50, (h, w))).astype(np.int16)
    sio.savemat(os.path.join(d, "cube.mat"), {"cube": cube})
    sio.savemat(os.path.join(d, "gt.mat"), {"gt": gt.astype(np.uint8)})


def scene(name, h, w):
    subprocess.run([sys.executable, os.path.abspath(__file__), "--make",
                    os.path.join(WORK, "data", name), str(h), str(w)], check=True)
    return ("  - name: %s\n    bands: %d\n    shape: [%d, %d]\n    cube: {file: cube.mat}\n"
            "    gt: {file: gt.mat}\n    ignored: [0]\n    classes:\n      - {id: 1, name: a}\n"
            "      - {id: 2, name: b}\n      - {id: 3, name: c}\n" % (name, B, h, w))


def peak_kb(args, env):
    """The command's exit status and its peak resident set (kB)."""
    p = subprocess.Popen(args, cwd=WORK, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    check(p.returncode == 0, "%s: exit %d\n%s" % (" ".join(args), p.returncode, err))
    return ru.ru_maxrss


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    reg = os.path.join(WORK, "datasets.yaml")
    with open(reg, "w") as f:
        f.write("datasets:\n" + "".join(scene(n, *hw) for n, hw in SCENES.items()))
    with open(os.path.join(WORK, "exp.yaml"), "w") as f:
        f.write("name: load16\nnet: %s\ndomains: [{dataset: Small}]\n"
                "preprocess: {standardize: all, padding: reflect, patch: 3}\n"
                "split: {train: 10, val: 5}\nsolver: {type: sgd, lr: 0.01}\n"
                "train: {batch: 16, iterations: 4, val_every: 4, threads: 1}\n" % NET)
    env = dict(os.environ, OMP_NUM_THREADS="1", HSICC_DATASETS=reg)
    env.pop("HSICC_FLOAT_CUBE", None)
    subprocess.run([HSICC, "build", "exp.yaml", "-o", "trainer"], cwd=WORK, env=env, check=True,
                   capture_output=True)
    kb = {}
    for name in SCENES:
        kb[name] = peak_kb(["./trainer", "train", "--data", "data", "--out", "run_" + name,
                            "--set", "domains.0.dataset=" + name, "--no-download"], env)
    h, w = SCENES["Large"]
    scene_kb = h * w * B * 2 / 1024
    bound = kb["Small"] + 1.6 * scene_kb
    print("peak RSS: small scene %.1f MB, large scene %.1f MB (its int16 samples %.1f MB; "
          "bound %.1f MB)" % (kb["Small"] / 1024, kb["Large"] / 1024, scene_kb / 1024,
                              bound / 1024))
    check(kb["Large"] < bound, "the large scene's peak is %.2f times its int16 samples above the "
          "small one's (want < 1.6)" % ((kb["Large"] - kb["Small"]) / scene_kb))
    print("ok: %.2f times the int16 samples above the small scene's peak"
          % ((kb["Large"] - kb["Small"]) / scene_kb))


if sys.argv[1] == "--make":
    make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
else:
    HSICC, NET, WORK = sys.argv[1:4]
    main()
