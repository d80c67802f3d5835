#!/usr/bin/python3
"""mk.py — makes the synthetic (and the deliberately broken) files of the bad-input corpus.

  mk.py scene DATA NAME --fmt npy|envi|mat --reg REG.yaml [--nan N] [--inf N] [--band B]
        [--h H --w W --bands B] [--reg-bands B] [--sha256 HEX] [--size N] [--gt-float]
      a 6-band, 3-class scene (the class is a linear function of the spectrum) in DATA/NAME,
      and its entry appended to REG.yaml; --nan/--inf put N non-finite values in band B
  mk.py st OUT --from W [--drop T] [--dtype T=DT] [--shape T=a,b] [--nan T] [--inf T]
        [--rename T=U] [--meta k=v] [--truncate N] [--hlen N] [--negative T]
      a safetensors file from W with one thing changed (--nan, --inf, --negative: the middle
      element of T set to NaN, -Inf, -3)
  mk.py st-raw OUT HEADER_JSON [--data N] [--hlen N]
  mk.py npy OUT SHAPE [--dtype DT] [--header TEXT [--unpadded] [--data-from X.npy]] [--truncate N]
      --unpadded: the header text as given (+ a newline), so the data may start at any offset;
      --data-from: the data bytes of X.npy after it instead of 64 zero bytes
  mk.py mat-zeros OUT H W B
      a MAT v5 file whose one variable 'cube' is H x W x B single-precision zeros, compressed
      (deflate at its ~1030:1: 512 MB of values in 0.5 MB), made without holding the values
"""
import json
import os
import struct
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from safetensors_np import read_st_raw as read_st  # noqa: E402


def opt(args, name, default=None, conv=str):
    if name in args:
        i = args.index(name)
        v = args[i + 1]
        del args[i:i + 2]
        return conv(v)
    return default


def opts(args, name):
    out = []
    while name in args:
        out.append(opt(args, name))
    return out


def flag(args, name):
    if name in args:
        args.remove(name)
        return True
    return False


def scene(args):
    data, name = args[0], args[1]
    args = args[2:]
    fmt = opt(args, "--fmt", "npy")
    reg = opt(args, "--reg")
    h, w, b = opt(args, "--h", 16, int), opt(args, "--w", 16, int), opt(args, "--bands", 6, int)
    nan, inf, band = opt(args, "--nan", 0, int), opt(args, "--inf", 0, int), opt(args, "--band", 2, int)
    rb = opt(args, "--reg-bands", b, int)
    sha, size = opt(args, "--sha256"), opt(args, "--size")
    gt_float = flag(args, "--gt-float")
    rng = np.random.default_rng(1)
    r, c = np.mgrid[0:h, 0:w]
    lab = 1 + ((r // 4) + (c // 4)) % 3
    cube = (rng.normal(0, 1, (3, b))[lab - 1] + 0.3 * rng.normal(0, 1, (h, w, b))).astype(np.float32)
    k = 0
    for v, n in ((np.nan, nan), (np.inf, inf)):
        for _ in range(n):
            cube[(k * 5 + 3) % h, (k * 3 + 1) % w, band] = v
            k += 1
    gt = lab.astype(np.float32) + 0.5 if gt_float else lab.astype(np.int32)
    d = os.path.join(data, name)
    os.makedirs(d, exist_ok=True)
    if fmt == "npy":
        np.save(os.path.join(d, "cube.npy"), cube)
        cf = "cube.npy"
    elif fmt == "envi":
        cube.transpose(2, 0, 1).astype("<f4").tofile(os.path.join(d, "cube.img"))
        with open(os.path.join(d, "cube.hdr"), "w") as f:
            f.write("ENVI\nsamples = %d\nlines = %d\nbands = %d\nheader offset = 0\n"
                    "file type = ENVI Standard\ndata type = 4\ninterleave = bsq\nbyte order = 0\n"
                    % (w, h, b))
        cf = "cube.hdr"
    else:
        import scipy.io
        scipy.io.savemat(os.path.join(d, "cube.mat"), {"cube": cube})
        cf = "cube.mat"
    np.save(os.path.join(d, "gt.npy"), gt)
    extra = ""
    if sha:
        extra += ", sha256: %s" % sha
    if size:
        extra += ", size: %s" % size
    if reg:
        new = not os.path.exists(reg)
        with open(reg, "a") as f:
            if new:
                f.write("datasets:\n")
            f.write("  - name: %s\n    bands: %d\n    shape: [%d, %d]\n    ignored: [0]\n"
                    "    cube: {file: %s%s}\n    gt: {file: gt.npy}\n    classes:\n"
                    "      - {id: 1, name: a}\n      - {id: 2, name: b}\n      - {id: 3, name: c}\n"
                    % (name, rb, h, w, cf, extra))


def write_st(path, t, meta, hlen=None, truncate=None):
    head, off, blobs = {}, 0, []
    if meta:
        head["__metadata__"] = meta
    for k, (dt, shape, b) in t.items():
        head[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(head).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    raw = struct.pack("<Q", len(h) if hlen is None else hlen) + h + b"".join(blobs)
    with open(path, "wb") as f:
        f.write(raw[:truncate] if truncate is not None else raw)


def st(args):
    out = args[0]
    args = args[1:]
    t, meta = read_st(opt(args, "--from"))
    for n in opts(args, "--drop"):
        del t[n]
    for s in opts(args, "--dtype"):
        n, dt = s.split("=")
        t[n][0] = dt
        if dt in ("F16", "BF16"):
            t[n][2] = t[n][2][:len(t[n][2]) // 2]
        elif dt in ("F64", "I64"):
            t[n][2] = t[n][2] * 2
    for s in opts(args, "--shape"):
        n, sh = s.split("=")
        shape = [int(x) for x in sh.split(",") if x]
        t[n][1] = shape
        t[n][2] = np.zeros(shape, "<f4").tobytes() if all(x >= 0 for x in shape) and \
            np.prod(shape, dtype=np.float64) < 1e7 else b""
    for which, v in (("--nan", np.nan), ("--inf", -np.inf), ("--negative", -3.0)):
        for n in opts(args, which):
            a = np.frombuffer(t[n][2], "<f4").copy()
            a[len(a) // 2] = v
            t[n][2] = a.tobytes()
    for s in opts(args, "--rename"):
        a, b = s.split("=")
        t[b] = t.pop(a)
    for s in opts(args, "--meta"):
        k, v = s.split("=", 1)
        meta[k] = v
    write_st(out, t, meta, opt(args, "--hlen", None, int), opt(args, "--truncate", None, int))


def st_raw(args):
    out, head = args[0], args[1].encode()
    args = args[2:]
    data = opt(args, "--data", 0, int)
    hlen = opt(args, "--hlen", len(head), int)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", hlen) + head + b"\0" * data)


def npy(args):
    out, shape = args[0], tuple(int(x) for x in args[1].split(",") if x)
    args = args[2:]
    dt = opt(args, "--dtype", "<f4")
    header = opt(args, "--header")
    trunc = opt(args, "--truncate", None, int)
    unpadded = flag(args, "--unpadded")
    data_from = opt(args, "--data-from")
    if header is None:
        a = np.random.default_rng(2).normal(0, 1, shape).astype(dt) if dt[-2] in "fi" else \
            np.zeros(shape, dt)
        np.save(out, a)
    else:
        h = header.encode()
        if not unpadded:
            h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64)
        h += b"\n"
        data = np.load(data_from).tobytes() if data_from else b"\0" * 64
        with open(out, "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data)
    if trunc is not None:
        raw = open(out, "rb").read()
        open(out, "wb").write(raw[:trunc])


def mat_zeros(args):
    out, h, w, b = args[0], int(args[1]), int(args[2]), int(args[3])
    n = h * w * b * 4
    pad = (8 - n % 8) % 8
    body = struct.pack("<IIII", 6, 8, 7, 0)                      # array flags: single
    body += struct.pack("<IIiii", 5, 12, h, w, b) + b"\0" * 4    # dims
    body += struct.pack("<II", 1, 4) + b"cube" + b"\0" * 4       # name
    body += struct.pack("<II", 7, n)                             # real part: miSINGLE
    z = zlib.compressobj(9)
    parts = [z.compress(struct.pack("<II", 14, len(body) + n + pad) + body)]
    chunk, left = b"\0" * (1 << 24), n + pad
    while left:
        k = min(left, len(chunk))
        parts.append(z.compress(chunk[:k]))
        left -= k
    parts.append(z.flush())
    data = b"".join(parts)
    head = b"MATLAB 5.0 MAT-file, hsicc bad-input corpus".ljust(116) + b"\0" * 8
    with open(out, "wb") as f:
        f.write(head + struct.pack("<H", 0x0100) + b"IM" + struct.pack("<II", 15, len(data)) + data)


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    {"scene": scene, "st": st, "st-raw": st_raw, "npy": npy, "mat-zeros": mat_zeros}[cmd](rest)
