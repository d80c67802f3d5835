"""PyTorch's side of bench/mem_bench.sh: the SSRN protocol of torch_protocol.py (10 train + 10
val pixels per class, the rest test, 7x7 patches, RMSprop, batch 16) on a scene given as an ENVI
cube (any band count; int16/uint16/float32) and a gt .npy, then its peak RSS. Memory only: the
accuracy printed is of a short run on whatever scene it is given.

    /usr/bin/python3 torch_mem.py CUBE.hdr GT.npy [--epochs 2] [--threads 2]
"""
import argparse
import resource
import sys
import types

import numpy as np
import torch

import torch_protocol

ENVI_TYPES = {"1": "u1", "2": "<i2", "3": "<i4", "4": "<f4", "5": "<f8", "12": "<u2"}


def read_envi(hdr):
    """A BSQ ENVI cube (byte order 0) as [H, W, B]."""
    keys = {}
    for line in open(hdr):
        if "=" in line:
            k, v = line.split("=", 1)
            keys[k.strip().lower()] = v.strip()
    h, w, b = int(keys["lines"]), int(keys["samples"]), int(keys["bands"])
    if keys.get("interleave", "bsq").lower() != "bsq" or keys.get("byte order", "0") != "0":
        sys.exit("%s: only little-endian BSQ cubes" % hdr)
    data = np.fromfile(hdr[:-4], dtype=ENVI_TYPES[keys["data type"]],
                       offset=int(keys.get("header offset", "0")))
    return data.reshape(b, h, w).transpose(1, 2, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cube")
    ap.add_argument("gt")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gt = np.load(a.gt)
    ids = [int(c) for c in np.unique(gt) if c != 0]
    torch_protocol.LABELS = ids   # the protocol's split and metrics iterate over LABELS
    cube = torch_protocol.standardize(read_envi(a.cube))
    labels = torch_protocol.remap(gt, ids)
    args = types.SimpleNamespace(train_per_class=10, val_per_class=10, patch=7, blocks=2,
                                 variant="paper", lr=3e-4, epochs=a.epochs, batch=16, l2=0.0)
    res = torch_protocol.run_ssrn(cube, labels, 0, args)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("torch ssrn scene %dx%dx%d epochs=%d OA=%.4f peak_rss_mb=%.1f"
          % (cube.shape[0], cube.shape[1], cube.shape[2], a.epochs, res["oa"], rss))


if __name__ == "__main__":
    main()
