"""A synthetic hyperspectral scene for the benches: an int16 BSQ ENVI cube (DIR/cube, DIR/cube.hdr,
written one band at a time, never whole in memory) with a UTM map info, and with --gt a uint8
ground truth DIR/gt.npy (16 classes in blocks, a third of the pixels unlabelled). Also
DIR/registry.yaml: a dataset registry (HSICC_DATASETS / --datasets) entry named after DIR, whose
data folder is DIR's parent. Speed and memory only: the classes mean nothing.

    /usr/bin/python3 synth_scene.py DIR H W BANDS [--gt]
"""
import os
import sys

import numpy as np


def main():
    if len(sys.argv) not in (5, 6) or (len(sys.argv) == 6 and sys.argv[5] != "--gt"):
        sys.exit(__doc__.strip().split("\n")[-1].strip())
    d, h, w, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:h, 0:w]
    gt = ((yy // 12) * 5 + (xx // 17)) % 17            # 0 = unlabelled, 1..16 classes
    gt[(yy + xx) % 3 == 0] = 0
    if len(sys.argv) == 6:
        np.save(os.path.join(d, "gt.npy"), gt.astype(np.uint8))
    with open(os.path.join(d, "cube"), "wb") as f:
        for band in range(b):
            base = (np.sin(np.arange(w) / 40.0 + band / 30.0)[None, :] * 800 + 2000
                    + 300 * np.sin(gt / 3.0 + band / 25.0)).astype(np.float32)
            f.write((base + rng.normal(0, 100, (h, w))).astype("<i2").tobytes())
    name = os.path.basename(os.path.abspath(d))
    with open(os.path.join(d, "registry.yaml"), "w") as f:
        f.write("datasets:\n  - name: %s\n    folder: %s\n    bands: %d\n    shape: [%d, %d]\n"
                "    cube: {file: cube.hdr}\n    gt: {file: gt.npy}\n    classes:\n" % (name, name, b, h, w))
        for c in range(1, 17):
            f.write('      - {id: %d, name: "class %d"}\n' % (c, c))
    with open(os.path.join(d, "cube.hdr"), "w") as f:
        f.write("ENVI\nsamples = %d\nlines = %d\nbands = %d\nheader offset = 0\n"
                "file type = ENVI Standard\ndata type = 2\ninterleave = bsq\nbyte order = 0\n"
                "map info = {UTM, 1.0, 1.0, 500000.0, 4100000.0, 1.0, 1.0, 11, North, WGS-84, "
                "units=Meters}\n" % (w, h, b))


if __name__ == "__main__":
    main()
