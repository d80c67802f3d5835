#!/usr/bin/env python3
"""shapes_vs_torch.py — `hsicc check`'s shapes and parameter counts against PyTorch's, layer by
layer, on random sequential nets.

Each seed draws an input ([F], [C, L], [C, H, W] or [C, D, H, W], small) and 1 to 6 layers, each
on its own line with an explicit name: conv1d/2d/3d (kernel, stride, dilation, groups, pad
valid / same / an integer / a list with [before, after] entries, bias), max and average pools
(stride, padding, ceil_mode, count_include_pad, global), bn, activations, prelu, softmax,
dropout, dense, flatten, fold, reshape (with -1), permute, transpose (negative axes), crop
(centred and with offset), lrn, gru and lstm (stacked, bidirectional, sequence = false). The
same layers as PyTorch modules (asymmetric padding as F.pad) run on a batch of 2:

  - PyTorch runs every layer: `hsicc check` exits 0, and the row named after each layer (a
    stacked gru/lstm: with its `<name>.*` rows) has PyTorch's output shape and parameter count;
  - PyTorch refuses a layer: `hsicc check` exits 1 with its first error on that layer's line
    (rows before it, when printed, still agree).

Where hsicc is stricter by design the draw avoids it: a softmax over one channel, a ceil_mode
pool whose kernel is larger than its padded input; PyTorch's 3-D pools refuse an input smaller
than the kernel even with padding that makes up for it (its 1-D and 2-D pools and hsicc take it),
so such pools get no padding. A failing seed prints its netdef and the differences.

  shapes_vs_torch.py HSICC WORKDIR [--count 150] [--seed 1]
Exit status: 0 all agree, 1 a difference, 77 torch missing.
"""
import argparse
import math
import os
import random
import re
import subprocess
import sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print("shapes_vs_torch: SKIP: %s (run with /usr/bin/python3, Debian python3-torch)" % e)
    sys.exit(77)

torch.set_num_threads(1)


class Pad(nn.Module):
    def __init__(self, pads):
        super().__init__()
        self.pads = pads

    def forward(self, x):
        return F.pad(x, self.pads)


class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape((x.shape[0],) + tuple(self.shape))


class Permute(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute([0] + [d + 1 for d in self.dims])


class Crop(nn.Module):
    def __init__(self, size, off):
        super().__init__()
        self.size, self.off = size, off

    def forward(self, x):
        nsp = len(self.size)
        sl = [slice(None)] * (x.dim() - nsp)
        for s, o in zip(self.size, self.off):
            sl.append(slice(o, o + s))
        return x[tuple(sl)]


class RNN(nn.Module):
    def __init__(self, kind, f, h, layers, bidir, seq):
        super().__init__()
        self.m = (nn.GRU if kind == 'gru' else nn.LSTM)(f, h, layers, bidirectional=bidir)
        self.seq, self.h, self.bidir = seq, h, bidir

    def forward(self, x):
        y, _ = self.m(x.permute(2, 0, 1))     # [L, N, F]
        if self.seq:
            return y.permute(1, 2, 0)
        if not self.bidir:
            return y[-1]
        return torch.cat([y[-1, :, :self.h], y[0, :, self.h:]], 1)


def tup(v, n):
    return list(v) if isinstance(v, list) else [v] * n


def lit(v):
    if isinstance(v, list):
        return '[' + ', '.join(lit(x) for x in v) + ']'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    return str(v)


CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
MAXP = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVGP = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}


def small(rng, n, lo=1, hi=4):
    if rng.random() < 0.5:
        return rng.randint(lo, hi)
    return [rng.randint(lo, hi) for _ in range(n)]


def gen_layer(rng, shape, name):
    """(netdef text, torch module) of a random layer for an input of `shape` (no batch)."""
    r = len(shape)
    nsp = r - 1
    c = shape[0]
    choices = ['bn', 'act', 'dense', 'flatten', 'reshape', 'permute', 'transpose', 'dropout',
               'softmax', 'prelu']
    if 1 <= nsp <= 3:
        choices += ['conv'] * 4 + ['pool'] * 3 + ['gpool']
    if r == 3 or (r == 4 and shape[1] == 1):
        choices.append('fold')
    if r in (3, 4):
        choices += ['crop', 'lrn']
    if r == 2:
        choices += ['rnn'] * 2
    k = rng.choice(choices)
    if k == 'conv':
        out = rng.randint(1, 6)
        kern = small(rng, nsp, 1, 4)
        args = ['%d' % out, lit(kern)]
        stride = dil = 1
        groups = 1
        padt = 'valid'
        if rng.random() < 0.4:
            stride = small(rng, nsp, 1, 3)
            args.append('stride = ' + lit(stride))
        if rng.random() < 0.3:
            dil = small(rng, nsp, 1, 2)
            args.append('dilation = ' + lit(dil))
        p = rng.random()
        if p < 0.25:
            padt = 'same'
        elif p < 0.45:
            padt = rng.randint(0, 2)
        elif p < 0.6:
            padt = [rng.choice([rng.randint(0, 2), [rng.randint(0, 2), rng.randint(0, 2)]])
                    for _ in range(nsp)]
        if padt != 'valid' or rng.random() < 0.1:
            args.append('pad = ' + (padt if isinstance(padt, str) else lit(padt)))
        if rng.random() < 0.2:
            g = rng.choice([d for d in range(1, c + 1) if c % d == 0])
            out = g * rng.randint(1, 2)
            args[0] = '%d' % out
            groups = g
            args.append('groups = %d' % g)
        bias = rng.random() < 0.85
        if not bias:
            args.append('bias = false')
        kt, st, dt = tup(kern, nsp), tup(stride, nsp), tup(dil, nsp)
        sp = shape[1:]
        if padt == 'same':
            lo, hi = [], []
            for i in range(nsp):
                o = -(-sp[i] // st[i])
                tot = max((o - 1) * st[i] + (kt[i] - 1) * dt[i] + 1 - sp[i], 0)
                lo.append(tot // 2)
                hi.append(tot - tot // 2)
        elif padt == 'valid':
            lo = hi = [0] * nsp
        elif isinstance(padt, int):
            lo = hi = [padt] * nsp
        else:
            lo = [p if isinstance(p, int) else p[0] for p in padt]
            hi = [p if isinstance(p, int) else p[1] for p in padt]
        pads = []
        for i in reversed(range(nsp)):
            pads += [lo[i], hi[i]]
        mod = nn.Sequential(Pad(pads), CONV[nsp](c, out, kt, st, 0, dt, groups, bias))
        return '%s(%s, name = %s)' % ('conv%dd' % nsp, ', '.join(args), name), mod
    if k == 'pool':
        mx = rng.random() < 0.5
        kern = small(rng, nsp, 1, 3)
        kt = tup(kern, nsp)
        args = [lit(kern)]
        st = kt
        if rng.random() < 0.5:
            stride = small(rng, nsp, 1, 3)
            st = tup(stride, nsp)
            args.append('stride = ' + lit(stride))
        pad = [0] * nsp
        # PyTorch's 3-D pools refuse an input smaller than the kernel even when the padding
        # makes up for it (its 1-D and 2-D ones, and hsicc, take it): no padding then
        if rng.random() < 0.4 and (nsp < 3 or all(kt[i] <= shape[1 + i] for i in range(nsp))):
            pad = [rng.randint(0, kt[i] // 2) for i in range(nsp)]
            args.append('pad = ' + lit(pad))
        # a kernel past the padded input: an error in hsicc (LANGUAGE.md), PyTorch's ceil mode
        # allows it
        ceil = rng.random() < 0.3 and all(kt[i] <= shape[1 + i] + 2 * pad[i] for i in range(nsp))
        if ceil:
            args.append('ceil_mode = true')
        cip = True
        if not mx and rng.random() < 0.3:
            cip = False
            args.append('count_include_pad = false')
        if mx:
            mod = MAXP[nsp](kt, st, pad, ceil_mode=ceil)
        else:
            mod = AVGP[nsp](kt, st, pad, ceil_mode=ceil, count_include_pad=cip)
        return '%s(%s, name = %s)' % ('maxpool' if mx else 'avgpool', ', '.join(args), name), mod
    if k == 'gpool':
        mx = rng.random() < 0.5
        kt = shape[1:]
        mod = (MAXP if mx else AVGP)[nsp](kt)
        return '%s(global, name = %s)' % ('maxpool' if mx else 'avgpool', name), mod
    if k == 'bn':
        return 'bn(name = %s)' % name, BN[r](c)
    if k == 'act':
        a = rng.choice(['relu', 'tanh', 'sigmoid', 'elu', 'leaky_relu'])
        return '%s(name = %s)' % (a, name), nn.Identity()
    if k == 'dropout':
        return 'dropout(0.3, name = %s)' % name, nn.Identity()
    if k == 'softmax':
        if c == 1:   # hsicc refuses it by design (the output would always be 1)
            return 'relu(name = %s)' % name, nn.Identity()
        return 'softmax(name = %s)' % name, nn.Identity()
    if k == 'prelu':
        return 'prelu(%d, name = %s)' % (c, name), nn.PReLU(c)
    if k == 'dense':
        out = rng.randint(1, 8)
        bias = rng.random() < 0.85
        n = math.prod(shape)
        return ('dense(%d%s, name = %s)' % (out, '' if bias else ', bias = false', name),
                nn.Sequential(nn.Flatten(), nn.Linear(n, out, bias)))
    if k == 'flatten':
        return 'flatten(name = %s)' % name, nn.Flatten()
    if k == 'fold':
        if r == 3:
            return 'fold(name = %s)' % name, Reshape([1] + shape)
        return 'fold(name = %s)' % name, Reshape([1, c] + shape[2:])
    if k == 'reshape':
        n = math.prod(shape)
        dims = []
        rest = n
        for _ in range(rng.randint(0, 3)):
            divs = [d for d in range(1, rest + 1) if rest % d == 0]
            d = rng.choice(divs)
            dims.append(d)
            rest //= d
        dims.append(rest)
        rng.shuffle(dims)
        txt = list(dims)
        if rng.random() < 0.3:
            txt[rng.randrange(len(txt))] = -1
        return 'reshape(%s, name = %s)' % (lit(txt), name), Reshape(dims)
    if k == 'permute':
        dims = list(range(r))
        rng.shuffle(dims)
        return 'permute(%s, name = %s)' % (lit(dims), name), Permute(dims)
    if k == 'transpose':
        a, b = rng.randrange(r), rng.randrange(r)
        dims = list(range(r))
        dims[a], dims[b] = dims[b], dims[a]
        return 'transpose(%d, %d, name = %s)' % (a, b - r if rng.random() < 0.3 else b, name), \
            Permute(dims)
    if k == 'crop':
        sp = shape[-2:]
        size = [rng.randint(1, sp[0]), rng.randint(1, sp[1])]
        if rng.random() < 0.5:
            off = [rng.randint(0, sp[0] - size[0]), rng.randint(0, sp[1] - size[1])]
            txt = 'crop(%s, offset = %s, name = %s)' % (lit(size), lit(off), name)
        else:
            off = [(sp[0] - size[0]) // 2, (sp[1] - size[1]) // 2]
            txt = 'crop(%s, name = %s)' % (lit(size), name)
        return txt, Crop(size, off)
    if k == 'lrn':
        size = rng.randint(1, 5)
        return 'lrn(%d, name = %s)' % (size, name), nn.LocalResponseNorm(size)
    if k == 'rnn':
        kind = rng.choice(['gru', 'lstm'])
        h = rng.randint(1, 4)
        layers = rng.choice([1, 1, 2])
        bidir = rng.random() < 0.3
        seq = rng.random() < 0.6
        args = ['%d' % h]
        if layers > 1:
            args.append('num_layers = %d' % layers)
        if bidir:
            args.append('bidirectional = true')
        if not seq:
            args.append('sequence = false')
        return '%s(%s, name = %s)' % (kind, ', '.join(args), name), RNN(kind, c, h, layers, bidir, seq)
    raise AssertionError(k)


ROW = re.compile(r'^  (\S+)\s+(.*?)\s+\[([^\]]*)\]\s+([\d,]+)$')


def one(rng, hsicc, n, work):
    r = rng.choice([1, 2, 2, 3, 3, 4])
    if r == 1:
        shape = [rng.randint(1, 30)]
    elif r == 2:
        shape = [rng.randint(1, 4), rng.randint(1, 30)]
    elif r == 3:
        shape = [rng.randint(1, 4), rng.randint(1, 12), rng.randint(1, 12)]
    else:
        shape = [rng.randint(1, 3), rng.randint(1, 10), rng.randint(1, 8), rng.randint(1, 8)]
    lines = ['net n() {', '  input %s' % lit(shape)]
    mods = []
    cur = list(shape)
    expect = []   # (name, shape, params) or (name, 'error')
    torch_err = None
    for i in range(rng.randint(1, 6)):
        name = 'L%d' % i
        txt, mod = gen_layer(rng, cur, name)
        lines.append('  ' + txt)
        mod.eval()
        try:
            with torch.no_grad():
                y = mod(torch.randn([2] + cur))
            cnt = sum(p.numel() for p in mod.parameters())
            cur = list(y.shape[1:])
            if any(d < 1 for d in cur):
                raise RuntimeError('empty output %s' % cur)
            expect.append((name, cur, cnt, len(lines)))
        except Exception as e:
            torch_err = (name, len(lines), str(e).splitlines()[0][:160])
            break
    if torch_err is None:
        lines.append('  flatten(name = Z0) dense(3, name = Z1)')
    lines += ['  loss softmax_cross_entropy', '}']
    text = '\n'.join(lines) + '\n'
    path = os.path.join(work, 'n%d.hsn' % n)
    with open(path, 'w') as f:
        f.write(text)
    p = subprocess.run([hsicc, 'check', path], capture_output=True, text=True, timeout=30)
    rows = {}
    for line in p.stdout.splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group(1)] = ([int(x) for x in m.group(3).split(',') if x.strip()],
                                int(m.group(4).replace(',', '')))
    problems = []
    if torch_err:
        name, ln, msg = torch_err
        if p.returncode != 1:
            problems.append('torch fails at %s (%s) but hsicc exit %d' % (name, msg, p.returncode))
        else:
            m = re.search(r':(\d+):\d+: error: (.*)', p.stderr)
            if not m or int(m.group(1)) != ln:
                problems.append('torch fails at line %d (%s); hsicc: %s' % (
                    ln, msg, p.stderr.splitlines()[0] if p.stderr else ''))
    elif p.returncode != 0:
        problems.append('torch fine, hsicc: %s' % (p.stderr.splitlines()[0] if p.stderr else p.returncode))
    if p.returncode == 0 or torch_err:
        for name, shp, cnt, ln in expect:
            if name not in rows:
                if p.returncode == 0:
                    problems.append('no row %s' % name)
                continue
            got, gcnt = rows[name]
            gcnt = sum(v[1] for kk, v in rows.items() if kk == name or kk.startswith(name + '.'))
            if got != shp or gcnt != cnt:
                problems.append('%s (line %d): hsicc %s %d params, torch %s %d' % (name, ln, got, gcnt, shp, cnt))
    return text, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('hsicc')
    ap.add_argument('work')
    ap.add_argument('--count', type=int, default=150)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    bad = 0
    for n in range(a.count):
        rng = random.Random(a.seed * 100003 + n)
        text, problems = one(rng, a.hsicc, n, a.work)
        if problems:
            bad += 1
            print('=== seed %d case %d' % (a.seed, n))
            print(text, end='')
            for pr in problems:
                print('  ' + pr)
    print('%d random nets, %d with differences' % (a.count, bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
