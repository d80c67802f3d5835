"""safetensors_np.py — a safetensors reader for the Python tests (json + struct + numpy, no
`safetensors` package): every F32 tensor of a file as a numpy array."""
import json
import struct

import numpy as np


def read_st(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], "<f4").reshape(v["shape"])
    return out
