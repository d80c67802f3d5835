"""Minimal safetensors reader and writer (F32 only), without the `safetensors` package.

Format: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}}
(plus an optional "__metadata__"), then the raw little-endian data; offsets are relative to the
data start. It keeps the header's tensor order. It does not support dtypes other than F32.
"""
import json
import os
import struct

import numpy as np


class FormatError(ValueError):
    """The file is not a valid F32 safetensors file; the message names the file and the tensor."""


def read(path):
    """Returns (tensors: dict name -> float32 ndarray, order: names in header order)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise FormatError("%s: too short for a safetensors file (%d bytes)" % (path, len(blob)))
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        raise FormatError("%s: header length %d exceeds the file size %d" % (path, hlen, len(blob)))
    try:
        header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError("%s: header is not valid JSON: %s" % (path, e)) from None
    if not isinstance(header, dict):
        raise FormatError("%s: header is not a JSON object" % path)
    data = memoryview(blob)[8 + hlen:]
    tensors, order = {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], [int(d) for d in info["shape"]], \
                info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise FormatError("%s: tensor %r: header entry needs dtype, shape, data_offsets"
                              % (path, name)) from None
        if dtype != "F32":
            raise FormatError("%s: tensor %r has dtype %s; only F32 is supported"
                              % (path, name, dtype))
        want = 4 * int(np.prod(shape, dtype=np.int64))
        if not (0 <= begin <= end <= len(data)) or end - begin != want:
            raise FormatError("%s: tensor %r: data_offsets [%d, %d] do not hold shape %s (%d bytes)"
                              " inside %d data bytes" % (path, name, begin, end, shape, want,
                                                         len(data)))
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").astype(np.float32) \
            .reshape(shape)
        order.append(name)
    return tensors, order


def write(path, items, metadata=None):
    """Writes [(name, array)] as F32 in the given order; atomic (temp file + rename)."""
    header, offset, chunks = {}, 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in items:
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(arr)),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        chunks.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    os.replace(tmp, path)
