"""safetensors_np.py — a safetensors reader for the Python tests (json + struct + numpy, no
`safetensors` package): every F32 tensor of a file as a numpy array."""
import json
import struct

import numpy as np


def read_st_raw(path):
    """({name: [dtype, shape, bytes]}, metadata): any dtype, the bytes as stored."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    meta = head.pop("__metadata__", {})
    out = {}
    for k, v in head.items():
        a, b = v["data_offsets"]
        out[k] = [v["dtype"], v["shape"], data[a:b]]
    return out, meta


def read_st_meta(path):
    """({name: float32 array}, metadata)."""
    raw, meta = read_st_raw(path)
    return {k: np.frombuffer(b, "<f4").reshape(shape) for k, (_, shape, b) in raw.items()}, meta


def read_st(path):
    """{name: float32 array}."""
    return read_st_meta(path)[0]
