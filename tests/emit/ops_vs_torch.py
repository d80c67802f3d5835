#!/usr/bin/python3
"""emit.torch_ops: a net with lrn, crop, prelu and softmax against a PyTorch port of it.

The net (Lee et al. 2016's inception head in small: two conv3d over the whole depth, concat,
LocalResponseNorm of an even size, then prelu, an odd LRN, a centre crop, a shared prelu, a
softmax between convs, and a softmax right before the loss) is built into a trainer on
Salinas-A (HSICC_DATA_MIRROR) and trained 3 SGD steps so no weight is its initial value; then
`trainer forward` (inference) and `trainer grad` (training mode: loss and every parameter
gradient) on a random batch are compared with the same computation in PyTorch (float64, the
weights loaded by name from the trainer's checkpoint): logits within 1e-4 relative, loss and
gradients within 1e-3 relative to each tensor's largest value. The PyTorch port uses
nn.LocalResponseNorm, nn.PReLU, slicing and nn.Softmax(dim=1): the layers the netdef names.
Usage: ops_vs_torch.py HSICC WORKDIR. Exit 0 pass, 1 fail, 77 torch missing.
"""
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print("SKIP: %s" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
import st_io  # noqa: E402

HSICC, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
BANDS, CLASSES, PATCH, N = 20, 5, 5, 8

NETDEF = """net lee_ops(bands, classes, patch = 5) {
  input [1, bands, patch, patch]
  branch { conv3d(16, [bands, 3, 3], pad = [0, 1, 1]) | conv3d(16, [bands, 1, 1]) } concat
  reshape [32, patch, patch] lrn(32) relu
  conv2d(24, 1, name = c1) prelu(name = p1) lrn(5, alpha = 0.01, beta = 0.5, k = 2.0)
  crop(3)
  conv2d(20, 1, name = c2) prelu(channels = 1, name = p2) softmax
  conv2d(12, 3, name = c3) tanh
  flatten dense(classes, name = fc) softmax
  loss softmax_cross_entropy
}
"""

EXPERIMENT = """name: torch-ops
net: %s
domains:
  - name: a
    dataset: SalinasA
    labels: [10, 11, 12, 13, 14]
    bands: {resample: %d}
split: {train: 3}
solver: {type: sgd, lr: 0.05}
train: {batch: 8, iterations: 3, select: last}
runs: {count: 1, seed: 3}
outputs: {maps: false, curves: false, checkpoints: last}
"""


class LeeOps(nn.Module):
    """The netdef above, layer for layer."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv3d(1, 16, (BANDS, 3, 3), padding=(0, 1, 1))
        self.conv1 = nn.Conv3d(1, 16, (BANDS, 1, 1))
        self.lrn0 = nn.LocalResponseNorm(32)
        self.c1 = nn.Conv2d(32, 24, 1)
        self.p1 = nn.PReLU(24)
        self.lrn1 = nn.LocalResponseNorm(5, alpha=0.01, beta=0.5, k=2.0)
        self.c2 = nn.Conv2d(24, 20, 1)
        self.p2 = nn.PReLU()
        self.c3 = nn.Conv2d(20, 12, 3)
        self.fc = nn.Linear(12, CLASSES)

    def forward(self, x):
        x = torch.cat([self.conv0(x), self.conv1(x)], 1).reshape(-1, 32, PATCH, PATCH)
        x = F.relu(self.lrn0(x))
        x = self.lrn1(self.p1(self.c1(x)))
        x = x[:, :, 1:4, 1:4]                                   # crop(3) of 5x5
        x = nn.Softmax(dim=1)(self.p2(self.c2(x)))
        x = torch.tanh(self.c3(x))
        return self.fc(x.flatten(1))   # the softmax before the loss: the loss applies it


def run(*args):
    args = [str(a) for a in args]
    print("$ " + " ".join(args), flush=True)
    p = subprocess.run(args, capture_output=True, text=True, cwd=WORK)
    if p.returncode:
        print("FAIL: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
        sys.exit(1)
    return p


fails = 0


def compare(label, got, want, rtol):
    global fails
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        print("FAIL %s: shape %s, torch %s" % (label, got.shape, want.shape))
        fails += 1
        return
    err = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
    bad = not err <= rtol
    fails += bad
    print("%-28s max rel err %.2e%s" % (label, err, "  FAIL" if bad else ""))


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    netdef, exp = os.path.join(WORK, "lee_ops.hsn"), os.path.join(WORK, "experiment.yaml")
    with open(netdef, "w") as f:
        f.write(NETDEF)
    with open(exp, "w") as f:
        f.write(EXPERIMENT % (netdef, BANDS))
    tr = os.path.join(WORK, "trainer")
    run(HSICC, "build", exp, "-o", tr)
    run(tr, "train", "--out", os.path.join(WORK, "run"), "--quiet")
    wpath = os.path.join(WORK, "run", "run0", "last.safetensors")
    weights, _ = st_io.read(wpath)
    rng = np.random.default_rng(5)
    x = rng.standard_normal([N, 1, BANDS, PATCH, PATCH]).astype(np.float32)
    y = rng.integers(0, CLASSES, N).astype(np.int32)
    np.save(os.path.join(WORK, "x.npy"), x)
    np.save(os.path.join(WORK, "y.npy"), y)

    torch.set_default_dtype(torch.float64)
    net = LeeOps()
    names = dict(net.named_parameters())
    if sorted(names) != sorted(weights):
        print("FAIL: parameters: hsicc %s, torch %s" % (sorted(weights), sorted(names)))
        return 1
    with torch.no_grad():
        for k, p in names.items():
            if tuple(p.shape) != weights[k].shape:
                print("FAIL: %s: hsicc %s, torch %s" % (k, weights[k].shape, tuple(p.shape)))
                return 1
            p.copy_(torch.from_numpy(weights[k].astype(np.float64)))
        if float(names["p1.weight"].abs().sub(0.25).abs().max()) == 0:
            print("FAIL: prelu slopes are still their initial 0.25: training did not reach them")
            return 1
    xt = torch.from_numpy(x.astype(np.float64))
    logits = net(xt)
    for backend in ("dnnl", "ref"):
        out = os.path.join(WORK, "logits_%s.npy" % backend)
        p = run(tr, "forward", "--weights", wpath, "--input", os.path.join(WORK, "x.npy"), "--out", out,
                "--backend", backend)
        compare("logits (%s)" % backend, np.load(out), logits.detach().numpy(), 1e-4)
        g = os.path.join(WORK, "g_%s.safetensors" % backend)
        run(tr, "grad", "--weights", wpath, "--input", os.path.join(WORK, "x.npy"), "--labels",
            os.path.join(WORK, "y.npy"), "--out", g, "--backend", backend)
        grads, _ = st_io.read(g)
        net.zero_grad()
        loss = F.cross_entropy(net(xt), torch.from_numpy(y.astype(np.int64)))
        loss.backward()
        for k, prm in names.items():
            compare("d %s (%s)" % (k, backend), grads[k], prm.grad.numpy(), 1e-3)
    print("FAIL" if fails else "PASS")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
