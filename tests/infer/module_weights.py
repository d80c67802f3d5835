"""Random weights for an inference module (hsicc emit --infer), read from its parameter table:
the tests of tests/infer that need a weights file for a module they emitted."""
import re

import numpy as np

import st_io


def random_weights(module_c, path, scale=0.5, seed=3):
    """Writes path (safetensors) with every parameter of module_c's table drawn at random (a
    running variance in [0.5, 1.5), so that no BN is an identity); returns the value count."""
    rng = np.random.default_rng(seed)
    with open(module_c) as f:
        table = re.findall(r'^    \{"([^"]+)", \d, \{([\d, ]+)\}, \d+, NULL', f.read(), re.M)
    if not table:
        raise SystemExit("FAIL: %s: no parameter table found" % module_c)
    out = []
    for name, dims in table:
        shape = [int(d) for d in dims.split(",")]
        t = rng.uniform(0.5, 1.5, shape) if name.endswith("running_var") else rng.standard_normal(shape) * scale
        out.append((name, t.astype(np.float32)))
    st_io.write(path, out, {"format": "pt"})
    return sum(t.size for _, t in out)
