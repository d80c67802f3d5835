#!/usr/bin/python3
"""split_counts.py — a shipped example's split on the REAL ground truth of its dataset: the
train / val / test pixel counts its comments and runtime/data/DATA.md promise.

  split_counts.py HSICC EXPERIMENT WORKDIR MIRROR DATASET TRAIN VAL TEST

The cube is a synthetic stand-in (random uint16 counts, the real shape and band count; no dataset
file is written outside WORKDIR), the gt is the mirror's real .mat; the trainer builds from the
example as it is, trains one step (--stop-after 1) and its run0/masks.npy is counted.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import scipy.io

hsicc, exp, work, mirror, name = sys.argv[1:6]
want = [int(v) for v in sys.argv[6:9]]
# the built-in registry's entries (runtime/data/datasets.yaml) for the stand-in
GT = {"IndianPines": ("Indian_pines_gt.mat", "indian_pines_gt", 200),
      "PaviaU": ("PaviaU_gt.mat", "paviaU_gt", 103),
      "KSC": ("KSC_gt.mat", "KSC_gt", 176),
      "Salinas": ("Salinas_gt.mat", "salinas_gt", 204),
      "Botswana": ("Botswana_gt.mat", "Botswana_gt", 145)}
gtf, var, bands = GT[name]
shutil.rmtree(work, ignore_errors=True)
d = os.path.join(work, "data", name)
os.makedirs(d)
gt = scipy.io.loadmat(os.path.join(mirror, name, gtf))[var]
shutil.copy(os.path.join(mirror, name, gtf), d)
rng = np.random.default_rng(1)
np.save(os.path.join(d, "cube.npy"), rng.integers(1000, 9000, gt.shape + (bands,), dtype=np.uint16))
ids = [int(v) for v in np.unique(gt) if v != 0]
with open(os.path.join(work, "reg.yaml"), "w") as f:
    f.write("datasets:\n  - name: %s\n    bands: %d\n    shape: [%d, %d]\n    cube: {file: cube.npy}\n"
            "    gt: {file: %s, var: %s}\n    classes:\n" % (name, bands, gt.shape[0], gt.shape[1], gtf, var))
    f.writelines("      - {id: %d, name: c%d}\n" % (i, i) for i in ids)
tr = os.path.join(work, "trainer")
subprocess.run([hsicc, "build", exp, "-o", tr], check=True, stdout=subprocess.DEVNULL)
env = dict(os.environ, HSICC_DATA=os.path.join(work, "data"), HSICC_DATASETS="",
           OMP_NUM_THREADS="1")
out = os.path.join(work, "out")
p = subprocess.run([tr, "train", "--out", out, "--quiet", "--no-download", "--stop-after", "1",
                    "--datasets", os.path.join(work, "reg.yaml")], env=env, capture_output=True,
                   text=True)
if p.returncode != 130:
    sys.exit("trainer: exit %d, expected 130 (--stop-after)\n%s" % (p.returncode, p.stderr))
masks = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(out, "run0")) for f in fs
         if f == "masks.npy"]
m = np.load(masks[0])
got = [int((m == v).sum()) for v in (1, 2, 3)]
if got != want:
    sys.exit("%s on %s: train / val / test = %s, expected %s" % (os.path.basename(exp), name, got, want))
print("%s on %s: train / val / test = %s" % (os.path.basename(exp), name, got))
