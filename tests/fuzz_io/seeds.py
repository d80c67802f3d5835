#!/usr/bin/python3
"""seeds.py OUT — a small seed corpus per fuzz_readers target (OUT/<target>/): valid files of
every kind the readers take, written here (numpy, scipy.io, the project's safetensors writer)
or taken from the tree (experiments, the dataset registry), so the fuzzer starts inside each
format rather than at its magic bytes."""
import glob
import json
import os
import struct
import sys

import numpy as np
import scipy.io

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")


def write_st(path, tensors, meta=None):
    """A safetensors file: 8-byte header length, the JSON header, the tensors' bytes."""
    head, blobs, off = {}, [], 0
    names = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}
    for k, a in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        head[k] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta:
        head["__metadata__"] = meta
    h = json.dumps(head).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def put(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    out = sys.argv[1]
    tmp = os.path.join(out, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    rng = np.random.RandomState(0)
    # npy: cubes and label maps in several dtypes, orders and byte orders
    for i, (shape, dt, order) in enumerate([((3, 4, 2), "<f4", "C"), ((3, 4), "<i4", "C"),
                                            ((2, 3, 2), ">f8", "F"), ((4, 4), "|u1", "C"),
                                            ((2, 2, 3), "<i2", "F"), ((5,), "<f4", "C")]):
        p = os.path.join(tmp, "x.npy")
        np.save(p, np.asarray(rng.randint(0, 4, size=shape), dtype=dt, order=order))
        put(out, "npy", "s%d.npy" % i, open(p, "rb").read())
    # mat (v5, compressed and not): a cube and a label map
    for i, comp in enumerate([False, True]):
        p = os.path.join(tmp, "x.mat")
        scipy.io.savemat(p, {"cube": rng.rand(3, 4, 2).astype(np.float32),
                             "gt": rng.randint(0, 3, size=(3, 4)).astype(np.uint8)},
                         do_compression=comp)
        put(out, "mat", "s%d.mat" % i, open(p, "rb").read())
    # safetensors: weights of fuzz_weights' small net, and other dtypes
    p = os.path.join(tmp, "w.safetensors")
    write_st(p, {"conv.weight": rng.rand(4, 3).astype(np.float32),
                 "conv.bias": rng.rand(4).astype(np.float32),
                 "bn.running_mean": rng.rand(4).astype(np.float32)}, {"format": "pt"})
    w = open(p, "rb").read()
    put(out, "st", "s0.safetensors", w)
    put(out, "weights", "s0.safetensors", w)
    write_st(p, {"a": rng.rand(2, 2, 2).astype(np.float32), "i": np.arange(3, dtype=np.int64)})
    put(out, "st", "s1.safetensors", open(p, "rb").read())
    # ENVI: header, a NUL byte, the data
    for i, (dt, il, bo) in enumerate([(4, "bsq", 0), (2, "bil", 1), (12, "bip", 0), (1, "bsq", 0)]):
        npdt = {1: "u1", 2: "i2", 4: "f4", 12: "u2"}[dt]
        hdr = ("ENVI\nsamples = 3\nlines = 2\nbands = 2\nheader offset = 0\nfile type = ENVI "
               "Standard\ndata type = %d\ninterleave = %s\nbyte order = %d\n" % (dt, il, bo))
        if i == 0:
            hdr += ("map info = {UTM, 1.000, 1.000, 500000.0, 4000000.0, 30.0, 30.0, 33, North, "
                    "WGS-84, units=Meters}\ndata ignore value = 0\n")
        data = rng.randint(0, 9, size=12).astype((">" if bo else "<") + npdt).tobytes()
        put(out, "envi", "s%d" % i, hdr.encode() + b"\0" + data)
    # dataset registry and experiments from the tree
    put(out, "registry", "datasets.yaml", open(os.path.join(ROOT, "runtime/data/datasets.yaml")).read())
    for i, f in enumerate(sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml")))
                          + sorted(glob.glob(os.path.join(ROOT, "tests/bad/assets", "*.yaml")))):
        put(out, "experiment", "s%d.yaml" % i, open(f).read())
    # json: metrics-like records
    put(out, "json", "s0.json", json.dumps({"OA": 0.9, "AA": 0.8, "kappa": 0.7, "per_class": [1, 0.5],
                                            "run": {"seed": 1, "name": "x\u00e9"}, "ok": True,
                                            "none": None}))
    put(out, "json", "s1.json", "[1e308, -0.0, 1.5e-7, \"a\\\"b\\u0041\", {}]")
    # georef: map info, NUL, coordinate system string
    put(out, "georef", "s0", b"UTM, 1, 1, 500000, 4000000, 30, 30, 33, North, WGS-84, units=Meters")
    put(out, "georef", "s1", b"Geographic Lat/Lon, 1.5, 1.5, 10.0, 50.0, 0.001, 0.001, WGS-84, "
                               b"rotation=15")
    put(out, "georef", "s2", b"Arbitrary, 1, 1, 0, 0, 1, 1\0GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\","
                               b"SPHEROID[\"WGS 84\",6378137,298.257223563]],PRIMEM[\"Greenwich\",0],"
                               b"UNIT[\"degree\",0.0174532925199433]]")
    for f in glob.glob(os.path.join(tmp, "*")):
        os.remove(f)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
