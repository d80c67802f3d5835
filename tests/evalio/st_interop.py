"""st_interop.py — safetensors files move between hsicc and PyTorch in both directions.

usage: st_interop.py <test_evalio_safetensors binary> <work dir>
C writes, Python reads (a tiny reader with json + struct, no `safetensors` package), and
Python writes (from torch tensors), C reads. Exit 77 (skipped) when torch is not importable.
"""
import json
import os
import struct
import subprocess
import sys

try:
    import torch
except ImportError:
    print("torch not available: skipped")
    sys.exit(77)


def read_st(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, "header not padded to 8"
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32"
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=torch.float32)
        out[name] = t.reshape(e["shape"])
    return out, meta


def write_st(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    c_file = os.path.join(work, "from_c.safetensors")
    subprocess.run([exe, "write", c_file], check=True)
    got, meta = read_st(c_file)
    w = torch.arange(24, dtype=torch.float64) * 0.25 - 3
    b = 1.0 / (torch.arange(5, dtype=torch.float64) + 1)
    assert list(got) == ["trunk.0.conv1.weight", "head.bias"], list(got)
    assert got["trunk.0.conv1.weight"].shape == (4, 3, 1, 2)
    assert torch.equal(got["trunk.0.conv1.weight"].flatten(), w.float())
    assert torch.equal(got["head.bias"], b.float())
    assert meta == {"from": "hsicc"}, meta
    # A state dict as torch would hold it: conv weight loads into a torch module unchanged.
    conv = torch.nn.Conv2d(3, 4, (1, 2), bias=False)
    conv.load_state_dict({"weight": got["trunk.0.conv1.weight"]})

    py_file = os.path.join(work, "from_torch.safetensors")
    a = (torch.arange(6, dtype=torch.float64) * 0.25 - 3).float().reshape(2, 3)
    bb = (1.0 / (torch.arange(4, dtype=torch.float64) + 1)).float()
    write_st(py_file, {"a": a, "b": bb}, {"from": "torch"})
    subprocess.run([exe, "check", py_file], check=True)
    print("interop ok")


if __name__ == "__main__":
    main()
