#!/usr/bin/env python3
"""random_nets.py — rewrites must not change what a net computes, on nets nobody wrote by hand.

For each seed a generator (random.Random(seed): the same nets on every run) writes a valid
netdef that tracks its shapes: small inputs, so kernels often span the whole depth or cover the
whole input (the conv3d -> conv2d and conv -> dense rewrites), 3-D ops after such convs, folds,
reshapes between 2-D and 3-D, pools, residuals, concat and add branches, BN and ReLU (fusions);
and sequence ops on [C, L]: spectral nets (input [1, bands]) and 2-D / 3-D nets reshaped to
[C, L] part way, with conv1d (strided, padded, dilated), 1-D pools, transpose / permute, and
gru / lstm (stacked, bidirectional, every state or the last one). The sequence decisions draw
from a second generator, so a net that takes none is the one its seed gave before.
Every net is emitted twice, as shipped and with --no-rewrite, and net_check.c (built with both)
compares them on the reference backend (and oneDNN against the reference): logits, loss, every
gradient, inference. A failing seed prints its netdef; rerun one with --first SEED --count 1.

  random_nets.py --hsicc H --cc CC --net-check net_check.c --include DIR --lib libhsirt.a
                 --link "FLAGS" [--dnnl] --out DIR [--first 1] [--count 12]
"""
import argparse
import os
import random
import subprocess
import sys


class Gen:
    """One random net. Shapes: ('3d', C, D, H, W) or ('2d', C, H, W)."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.q = random.Random(seed + 1000003)   # the sequence decisions (see the docstring)
        self.lines = []
        self.n = 0
        self.blocks = []

    def name(self, kind):
        self.n += 1
        return f"{kind}{self.n}"

    def kernel(self, size):
        """A kernel extent for an input extent: often the whole of it (rewrites), else smaller."""
        r = self.r.random()
        if r < 0.45 or size == 1:
            return size
        return self.r.randint(1, size)

    def conv(self, s, ind):
        out = self.r.choice([2, 3, 4, 5])
        if s[0] == '3d':
            _, c, d, h, w = s
            k = [self.kernel(d), self.kernel(h), self.kernel(w)]
            same = self.r.random() < 0.3 and all(x % 2 for x in k)
            pad = ", pad = same" if same else ""
            self.lines.append(f"{ind}conv3d({out}, kernel = [{k[0]}, {k[1]}, {k[2]}]{pad}, "
                              f"name = {self.name('c')})")
            if same:
                return ('3d', out, d, h, w)
            return ('3d', out, d - k[0] + 1, h - k[1] + 1, w - k[2] + 1)
        _, c, h, w = s
        k = [self.kernel(h), self.kernel(w)]
        same = self.r.random() < 0.3 and all(x % 2 for x in k)
        pad = ", pad = same" if same else ""
        self.lines.append(f"{ind}conv2d({out}, kernel = [{k[0]}, {k[1]}]{pad}, name = {self.name('c')})")
        if same:
            return ('2d', out, h, w)
        return ('2d', out, h - k[0] + 1, w - k[1] + 1)

    def same_conv(self, s, ind):
        """A conv that keeps the shape (for residual bodies)."""
        if s[0] == '3d':
            k = [self.r.choice([1, 3]) for _ in range(3)]
            self.lines.append(f"{ind}conv3d({s[1]}, kernel = [{k[0]}, {k[1]}, {k[2]}], pad = same, "
                              f"name = {self.name('c')})")
        else:
            k = self.r.choice([1, 3])
            self.lines.append(f"{ind}conv2d({s[1]}, {k}, pad = same, name = {self.name('c')})")
        return s

    def to_seq(self, s, ind):
        """[C, D, H, W] or [C, H, W] read as a sequence [C, L] (PyTorch's view)."""
        c, n = s[1], 1
        for x in s[2:]:
            n *= x
        self.lines.append(f"{ind}reshape [{c}, {n}]")
        return ('1d', c, n)

    def seq_step(self, s, ind, depth):
        """One op on a sequence [C, L]; returns the new shape (('vec', F) ends the body)."""
        q = self.q
        _, c, n = s
        r = q.random()
        if r < 0.30:
            out = q.choice([2, 3, 4])
            k = q.randint(1, min(n, 5))
            stride = q.choice([1, 1, 2]) if n > k else 1
            dil = q.choice([1, 1, 2]) if stride == 1 and 2 * (k - 1) + 1 <= n else 1
            pad = q.choice([0, 0, k // 2])
            attrs = "".join([f", stride = {stride}" if stride > 1 else "",
                             f", dilation = {dil}" if dil > 1 else "",
                             f", pad = {pad}" if pad else ""])
            self.lines.append(f"{ind}conv1d({out}, {k}{attrs}, name = {self.name('c')})")
            span = dil * (k - 1) + 1
            return ('1d', out, (n + 2 * pad - span) // stride + 1)
        if r < 0.40:
            self.lines.append(f"{ind}bn(name = {self.name('b')}) {q.choice(['relu', 'tanh'])}")
            return s
        if r < 0.50 and n >= 2:
            kind, k = q.choice(['maxpool', 'avgpool']), q.choice([2, min(n, 3)])
            st = q.choice([k, 1])
            self.lines.append(f"{ind}{kind}({k}, stride = {st})")
            return ('1d', c, (n - k) // st + 1)
        if r < 0.62:
            self.lines.append(f"{ind}{q.choice(['transpose(0, 1)', 'permute([1, 0])'])}")
            return ('1d', n, c)
        if r < 0.85 and n <= 12:
            kind, h = q.choice(['gru', 'lstm']), q.choice([2, 3])
            layers, bi, seq = q.choice([1, 1, 2]), q.random() < 0.4, q.random() < 0.7
            attrs = "".join([f", num_layers = {layers}" if layers > 1 else "",
                             ", bidirectional = true" if bi else "",
                             "" if seq else ", sequence = false",
                             ", bias = false" if q.random() < 0.2 else ""])
            self.lines.append(f"{ind}{kind}({h}{attrs}, name = {self.name('r')})")
            f = h * (2 if bi else 1)
            return ('1d', f, n) if seq else ('vec', f)
        if r < 0.93 and depth < 2:
            k = q.choice([1, 3])
            self.lines.append(f"{ind}residual {{ bn(name = {self.name('b')}) relu "
                              f"conv1d({c}, {k}, pad = same, name = {self.name('c')}) }}")
            return s
        if depth < 2:
            outs = [q.choice([1, 2, 3]) for _ in range(q.randint(2, 3))]
            k = q.randint(1, min(n, 3))
            arms = [f"conv1d({o}, {k}, name = {self.name('c')})" for o in outs]
            self.lines.append(f"{ind}branch {{ {' | '.join(arms)} }} concat")
            return ('1d', sum(outs), n - k + 1)
        return s

    def step(self, s, ind, depth):
        if s[0] == '1d':
            return self.seq_step(s, ind, depth)
        if self.q.random() < 0.1:
            return self.to_seq(s, ind)
        r = self.r.random()
        if r < 0.35:
            return self.conv(s, ind)
        if r < 0.45:
            self.lines.append(f"{ind}bn(name = {self.name('b')}) relu")
            return s
        if r < 0.52:
            self.lines.append(f"{ind}{self.r.choice(['relu', 'tanh'])}")
            return s
        if r < 0.60 and min(s[-2:]) >= 2:
            kind = self.r.choice(['maxpool', 'avgpool'])
            if s[0] == '3d':
                self.lines.append(f"{ind}{kind}([1, 2, 2])")
                return ('3d', s[1], s[2], s[3] // 2, s[4] // 2)
            self.lines.append(f"{ind}{kind}(2)")
            return ('2d', s[1], s[2] // 2, s[3] // 2)
        if r < 0.68:
            if s[0] == '3d' and s[2] == 1:
                self.lines.append(f"{ind}fold")
                return ('3d', 1, s[1], s[3], s[4])
            if s[0] == '2d':
                self.lines.append(f"{ind}fold")
                return ('3d', 1, s[1], s[2], s[3])
            return s
        if r < 0.74:
            if s[0] == '3d':   # [C, D, H, W] -> [C*D, H, W]: the next op is 2-D
                self.lines.append(f"{ind}reshape [{s[1] * s[2]}, {s[3]}, {s[4]}]")
                return ('2d', s[1] * s[2], s[3], s[4])
            return s
        if r < 0.84 and depth < 2:
            self.lines.append(f"{ind}residual {{")
            self.lines.append(f"{ind}  bn(name = {self.name('b')}) relu")
            self.same_conv(s, ind + "  ")
            self.lines.append(f"{ind}}}")
            return s
        if depth < 2:
            return self.branch(s, ind, depth)
        return self.conv(s, ind)

    def branch(self, s, ind, depth):
        """Arms that each end with a conv of the same kernel (so only channels may differ)."""
        add = self.r.random() < 0.3
        arms = self.r.randint(2, 4)   # add of 3 or 4 arms: n-ary add, lowered to binary adds
        if s[0] == '3d':
            k = [self.kernel(s[2]), self.kernel(s[3]), self.kernel(s[4])]
            kt = f"[{k[0]}, {k[1]}, {k[2]}]"
            out_sp = (s[2] - k[0] + 1, s[3] - k[1] + 1, s[4] - k[2] + 1)
            op = "conv3d"
        else:
            k = [self.kernel(s[2]), self.kernel(s[3])]
            kt = f"[{k[0]}, {k[1]}]"
            out_sp = (s[2] - k[0] + 1, s[3] - k[1] + 1)
            op = "conv2d"
        outs = []
        parts = []
        for _ in range(arms):
            o = 3 if add else self.r.choice([1, 2, 3])
            outs.append(o)
            pre = f"bn(name = {self.name('b')}) relu " if self.r.random() < 0.4 else ""
            parts.append(f"{pre}{op}({o}, kernel = {kt}, name = {self.name('c')})")
        self.lines.append(f"{ind}branch {{ {' | '.join(parts)} }} {'add' if add else 'concat'}")
        c = 3 if add else sum(outs)
        return (s[0], c) + out_sp

    def net(self, seed):
        r = self.r
        three = r.random() < 0.6
        bands, patch, classes = r.randint(2, 6), r.choice([1, 3, 5]), r.randint(2, 4)
        s = ('3d', 1, bands, patch, patch) if three else ('2d', bands, patch, patch)
        inp = "[1, bands, patch, patch]" if three else "[bands, patch, patch]"
        if self.q.random() < 0.3:   # a spectral net: the centre pixel's spectrum
            bands, patch = self.q.randint(6, 16), 1
            s, inp = ('1d', 1, bands), "[1, bands]"
        for _ in range(r.randint(2, 7)):
            if s[0] == 'vec':
                break
            s = self.step(s, "  ", 0)
        if s[0] != 'vec' and r.random() < 0.5:
            self.lines.append("  avgpool(global)")
        body = "\n".join(self.lines)
        return (f"# random net, seed {seed} (tests/emit/random_nets.py)\n"
                f"net rnd(bands = {bands}, classes = {classes}, patch = {patch}) {{\n"
                f"  input {inp}\n{body}\n  dense(classes, name = fc)\n"
                f"  loss softmax_cross_entropy\n}}\n")


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def check_seed(a, seed):
    text = Gen(seed).net(seed)
    d = os.path.join(a.out, f"seed{seed}")
    os.makedirs(d, exist_ok=True)
    hsn = os.path.join(d, "rnd.hsn")
    with open(hsn, "w") as f:
        f.write(text)
    steps = [[a.hsicc, "emit", hsn, "-o", d, "--name", "rw"],
             [a.hsicc, "emit", hsn, "-o", d, "--name", "plain", "--no-rewrite"]]
    exe = os.path.join(d, "net_check")
    defs = ["-DNET=rw_net", "-DNET_PLAIN=plain_net", "-DFD_CHECK=0"] + (["-DHSICC_WITH_DNNL=1"] if a.dnnl else [])
    steps.append([a.cc, "-std=c11", "-O1", *defs, "-I", a.include, "-I", d, a.net_check,
                  os.path.join(d, "rw.c"), os.path.join(d, "plain.c"), "-o", exe, a.lib, *a.link.split()])
    steps.append([exe])
    for cmd in steps:
        p = run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"))
        if p.returncode != 0:
            print(f"FAIL seed {seed}: {' '.join(cmd[:3])} ... exit {p.returncode}\n{p.stdout}\n"
                  f"--- netdef ---\n{text}")
            return False
    rewrites = len({l for l in open(os.path.join(d, "rw.c")) if "rewritten from" in l})
    print(f"seed {seed}: ok ({rewrites} kinds of rewrite)")
    return True


def main():
    ap = argparse.ArgumentParser()
    for k in ("--hsicc", "--cc", "--net-check", "--include", "--lib", "--out"):
        ap.add_argument(k, required=True)
    ap.add_argument("--link", default="")
    ap.add_argument("--dnnl", action="store_true")
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--count", type=int, default=12)
    a = ap.parse_args()
    bad = [s for s in range(a.first, a.first + a.count) if not check_seed(a, s)]
    print("FAIL seeds %s" % bad if bad else "ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
