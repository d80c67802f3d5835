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
Every net is emitted twice, as shipped and with --no-rewrite (--ext, --fd: and --no-fuse), and
net_check.c (built with both) compares them on the reference backend (and oneDNN against the
reference): logits, loss, every gradient, inference. A failing seed prints its netdef; rerun
one with --first SEED --count 1.

--ext adds the ops and attributes the nets above never take, drawn from a third generator (so
the default mode's nets are unchanged): convs with strides, dilations, groups, explicit and
asymmetric paddings, pad = same with strides, no bias, frozen; pools with strides, paddings,
ceil_mode, count_include_pad = false, global max pools; every activation (sigmoid, elu,
leaky_relu, prelu, softmax), dropout, lrn, crop; BNs with eps, momentum, freeze (a fifth
generator: bn_attrs); flatten / dense mid-net and ops on [F]; residuals with a projected
shortcut, residuals in residuals (a sixth generator); named values joined by add / concat (the
same value twice), a restart from a named value (the ops after it dead); blocks and shared
blocks (with a repeat) called twice; softmax before the loss, label smoothing, an mse / l1 head,
a per-pixel cross-entropy on a logit map; a second domain (other classes; or, from a fourth
generator, other bands too, behind a first layer per domain that brings the input to one shape),
shared blocks shared across.
No conv window lies wholly in the padding (see sees_input). --fd is --ext with smooth
activations only (tanh, sigmoid, elu, softmax; average pools; mse), built with FD_CHECK: every
gradient is also checked against whole-network finite differences.

  random_nets.py --hsicc H --cc CC --net-check net_check.c --include DIR --lib libhsirt.a
                 --link "FLAGS" [--dnnl] --out DIR [--first 1] [--count 12] [--seed N ...]
                 [--ext | --fd]
"""
import argparse
import os
import random
import re
import subprocess
import sys


def sees_input(n, k, d, st, lo, out):
    """Every window of a conv (extent n, kernel k, dilation d, stride st, padding lo before)
    has a tap inside the input. A window wholly in the padding gives the bias alone, the same
    for every sample: a BN after it has zero batch variance and scales each sample's gradient
    by 1 / sqrt(eps) (316) while their sum must cancel, which float cannot do (ill-posed)."""
    return all(any(0 <= o * st - lo + j * d < n for j in range(k)) for o in range(out))


class Gen:
    """One random net. Shapes: ('3d', C, D, H, W) or ('2d', C, H, W)."""

    def __init__(self, seed, ext=False, fd=False):
        self.r = random.Random(seed)
        self.q = random.Random(seed + 1000003)   # the sequence decisions (see the docstring)
        # the extended ops (--ext, --fd): a third generator, None without them, so the nets of
        # the default mode are the ones every seed gave before
        self.x = random.Random(seed + 2000003) if ext or fd else None
        self.seed = seed
        self.nest = random.Random(seed + 5000011)   # nested residuals (--ext, --fd)
        self.fd = fd
        self.lines = []
        self.n = 0
        self.blocks = []
        self.saved = []      # (name, shape) of named values at the top level (--ext)
        self.flags = []      # extra hsicc emit flags (--ext: domains)

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
        if self.x and self.x.random() < 0.4:
            t = self.ext_step(s, ind)
            if t is not None:
                return t
        if s[0] == 'vec':
            return s
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

    # ---- the extended ops (--ext, --fd): every draw from self.x --------------------------------

    def act(self):
        """An activation; with --fd a smooth one (finite differences through kinks are noise)."""
        x = self.x
        if self.fd:
            return x.choice(['tanh', 'sigmoid', 'elu', 'softmax'])
        return x.choice(['relu', 'tanh', 'sigmoid', 'elu', 'elu(0.5)', 'leaky_relu',
                         'leaky_relu(0.2)', 'prelu', 'prelu(channels = 1)', 'softmax'])

    def act_for(self, s):
        a = self.act()
        while a == 'softmax' and s[1] < 2:   # one channel: softmax is an error
            a = self.act()
        return a

    def attrs(self):
        """Weight attributes that change no value: no bias, frozen (no gradient), multipliers."""
        x = self.x
        return "".join([", bias = false" if x.random() < 0.2 else "",
                        ", freeze = true" if x.random() < 0.08 else "",
                        ", lr_mult = 2" if x.random() < 0.05 else ""])

    def ext_conv(self, s, ind):
        """A conv with strides, dilations, groups, explicit (asymmetric) or same paddings."""
        x = self.x
        sp, c = list(s[2:]), s[1]
        nsp = len(sp)
        g = x.choice([d for d in range(1, c + 1) if c % d == 0]) if x.random() < 0.3 else 1
        out = g * x.randint(1, max(1, 6 // g))
        ks, sts, dls, pads, outs = [], [], [], [], []
        same = x.random() < 0.2
        for n in sp:
            k = x.randint(1, min(n + 2, 4)) if not same else x.randint(1, 4)
            d = x.choice([1, 1, 2])
            st = x.choice([1, 1, 2, 3])
            span = d * (k - 1) + 1
            if same:
                o = (n + st - 1) // st
                while d > 1 and not sees_input(n, k, d, st, max((o - 1) * st + span - n, 0) // 2, o):
                    d -= 1
                    span = d * (k - 1) + 1
                if not sees_input(n, k, d, st, max((o - 1) * st + span - n, 0) // 2, o):
                    k = 1
                ks.append(k); sts.append(st); dls.append(d); outs.append(o)
                continue
            lo = x.choice([0, 0, 1, 2])
            hi = x.choice([lo, lo, 0, 1])
            while n + lo + hi < span:
                if d > 1:
                    d -= 1
                elif k > 1:
                    k -= 1
                else:
                    lo += 1
                span = d * (k - 1) + 1
            o = (n + lo + hi - span) // st + 1
            if not sees_input(n, k, d, st, lo, o):
                lo = hi = 0
                d, k = 1, min(k, n)
                span = k
                o = (n - span) // st + 1
            ks.append(k); sts.append(st); dls.append(d); pads.append((lo, hi))
            outs.append(o)

        def lst(v):
            return str(v[0]) if len(set(v)) == 1 and x.random() < 0.5 else "[" + ", ".join(map(str, v)) + "]"
        a = [f"conv{nsp}d({out}, {lst(ks)}"]
        if any(v > 1 for v in sts):
            a.append(f"stride = {lst(sts)}")
        if any(v > 1 for v in dls):
            a.append(f"dilation = {lst(dls)}")
        if same:
            a.append("pad = same")
        elif any(lo or hi for lo, hi in pads):
            if all(lo == hi for lo, hi in pads):
                a.append(f"pad = {lst([lo for lo, _ in pads])}")
            else:
                a.append("pad = [" + ", ".join(str(lo) if lo == hi else f"[{lo}, {hi}]" for lo, hi in pads) + "]")
        if g > 1:
            a.append(f"groups = {g}")
        self.lines.append(f"{ind}{', '.join(a)}{self.attrs()}, name = {self.name('c')})")
        return (s[0], out) + tuple(outs)

    def ext_pool(self, s, ind):
        """Pools with strides, paddings, ceil_mode, count_include_pad; global max pools."""
        x = self.x
        kind = 'avgpool' if self.fd else x.choice(['maxpool', 'avgpool'])
        sp = list(s[2:])
        if x.random() < 0.15:
            self.lines.append(f"{ind}{kind}(global)")
            return (s[0], s[1]) + tuple(1 for _ in sp)
        ks, sts, ps, outs = [], [], [], []
        ceil = x.random() < 0.4
        for n in sp:
            k = x.randint(1, min(n, 3))
            st = x.choice([1, 2, k])
            p = x.randint(0, k // 2)
            if ceil:
                o = -(-(n + 2 * p - k) // st) + 1
                if (o - 1) * st >= n + p:
                    o -= 1
            else:
                o = (n + 2 * p - k) // st + 1
            ks.append(k); sts.append(st); ps.append(p); outs.append(o)
        lst = lambda v: "[" + ", ".join(map(str, v)) + "]"
        a = [f"{kind}({lst(ks)}", f"stride = {lst(sts)}"]
        if any(ps):
            a.append(f"pad = {lst(ps)}")
            if kind == 'avgpool' and x.random() < 0.5:
                a.append("count_include_pad = false")
        if ceil:
            a.append("ceil_mode = true")
        self.lines.append(f"{ind}{', '.join(a)})")
        return (s[0], s[1]) + tuple(outs)

    def ext_crop(self, s, ind):
        x = self.x
        sp = list(s[2:])
        cut = sp[-2:] if x.random() < 0.6 or len(sp) == 2 else sp
        size = [x.randint(1, n) for n in cut]
        new = sp[:len(sp) - len(cut)] + size
        if x.random() < 0.5:
            off = [x.randint(0, n - z) for n, z in zip(cut, size)]
            self.lines.append(f"{ind}crop(size = [{', '.join(map(str, size))}], "
                              f"offset = [{', '.join(map(str, off))}])")
        elif len(cut) == 2 and size[0] == size[1] and x.random() < 0.5:
            self.lines.append(f"{ind}crop({size[0]})")
        else:
            self.lines.append(f"{ind}crop([{', '.join(map(str, size))}])")
        return (s[0], s[1]) + tuple(new)

    def keep_shape(self, s):
        """A pipeline that keeps the shape s (residual bodies, blocks called twice)."""
        x = self.x
        c = s[1]
        pre = f"bn(name = {self.name('b')}) {self.act_for(s)} " if x.random() < 0.6 else ""
        if s[0] == 'vec':
            return f"{pre}dense({c}{self.attrs()}, name = {self.name('d')})"
        nsp = len(s) - 2
        k = x.choice([1, 3])
        g = x.choice([d for d in range(1, c + 1) if c % d == 0]) if x.random() < 0.3 else 1
        gs = f", groups = {g}" if g > 1 else ""
        return f"{pre}conv{nsp}d({c}, {k}, pad = same{gs}{self.attrs()}, name = {self.name('c')})"

    def ext_block(self, s, ind):
        """A block (shared or not, with a repeat) called once or twice in a row."""
        x = self.x
        b = f"blk{len(self.blocks)}"
        shared = x.random() < 0.5
        body = self.keep_shape(s)
        if x.random() < 0.5:
            body = f"repeat n {{ residual {{ {body} }} }}"
        self.blocks.append(f"{'shared ' if shared else ''}block {b}(n = 1) {{\n  {body}\n}}\n")
        calls = x.randint(1, 2)
        for _ in range(calls):
            args = [str(x.randint(1, 2))] if x.random() < 0.5 else []
            if x.random() < 0.3:
                args.append(f"name = {self.name('s')}")
            self.lines.append(f"{ind}{b}" + (f"({', '.join(args)})" if args else ""))
        return s

    def ext_join(self, s, ind):
        """add / concat of named values (the current one named on its line), the same value twice."""
        x = self.x
        last = self.lines[-1] if self.lines else ""
        name = f"v{len(self.saved)}"
        if x.random() < 0.5:   # name the current value (a one-line statement) for later
            if not last.startswith(ind) or last.startswith(ind + " ") or last.strip() == "}" \
                    or re.match(r"\s*\w+ = ", last):
                return None
            self.lines[-1] = f"{ind}{name} = {last.strip()}"
            self.saved.append((name, s))
            return s
        same = [v for v, t in self.saved if t == s]
        cat = [v for v, t in self.saved if t[0] == s[0] and t[2:] == s[2:]]
        if s[0] == 'vec':
            cat = [v for v, t in self.saved if t[0] == 'vec']
        if x.random() < 0.5 and same:
            vs = [x.choice(same) for _ in range(x.randint(1, 3))]
            if x.random() < 0.3:   # restart from a named value: what came after it is dead
                self.lines.append(f"{ind}{vs[0]}")
                return s
            self.lines.append(f"{ind}add({', '.join(vs)})")
            return s
        if cat:
            vs = [x.choice(cat) for _ in range(x.randint(1, 3))]
            # concat(v) joins the current value with v; concat(v, w, ...) the named values only
            ch = (s[1] if len(vs) == 1 else 0) + sum(t[1] for v in vs for n, t in self.saved if n == v)
            self.lines.append(f"{ind}concat({', '.join(vs)})")
            return (s[0], ch) + tuple(s[2:])
        return None

    def ext_vec(self, s, ind):
        x = self.x
        r = x.random()
        if r < 0.3:
            f = x.randint(2, 8)
            self.lines.append(f"{ind}dense({f}{self.attrs()}, name = {self.name('d')})")
            return ('vec', f)
        if r < 0.45:
            self.lines.append(f"{ind}bn(name = {self.name('b')})")
            return s
        if r < 0.6:
            self.lines.append(f"{ind}residual {{ {self.keep_shape(s)} }}")
            return s
        if r < 0.7:
            f = x.randint(2, 4)
            arms = [f"dense({x.randint(1, 3)}, name = {self.name('d')})" for _ in range(x.randint(2, 4))]
            if x.random() < 0.4:
                arms = [f"dense({f}, name = {self.name('d')})" for _ in arms]
                self.lines.append(f"{ind}branch {{ {' | '.join(arms)} }} add")
                return ('vec', f)
            self.lines.append(f"{ind}branch {{ {' | '.join(arms)} }} concat")
            return ('vec', sum(int(a.split('(')[1].split(',')[0]) for a in arms))
        if r < 0.8:   # back to a map: [F, 1, 1] (conv2d), [F, 1] or [1, F] (conv1d, gru)
            f = s[1]
            t = x.choice([('2d', f, 1, 1), ('1d', f, 1), ('1d', 1, f), ('3d', 1, f, 1, 1)])
            self.lines.append(f"{ind}reshape [{', '.join(map(str, t[1:]))}]")
            return t
        return None

    def nested_residual(self, s, ind):
        """Residuals in residuals at the end of the body: gradients of one tensor summed over
        several paths, the adds' gradient sharing (plan.c) on sums of sums. Drawn from a
        generator of its own: the ops before are those the seed gave without."""
        x, self.x = self.x, self.nest   # keep_shape and act_for draw from self.x
        try:
            inner = "".join(f"residual {{ {self.keep_shape(s)} }} " for _ in range(self.x.randint(1, 2)))
            tail = self.keep_shape(s) if self.x.random() < 0.5 else ""
            self.lines.append(f"{ind}residual {{ {inner}{tail} }}")
            if self.x.random() < 0.3:
                self.lines.append(f"{ind}{self.act_for(s)}")
        finally:
            self.x = x
        return s

    def ext_branch(self, s, ind):
        """A branch of 2 to 16 arms that keep the spatial shape: convs (pad = same), pools
        (stride 1, padded), activations, BNs, dropout; concat, or add when the channels agree."""
        x = self.x
        c, nsp = s[1], len(s) - 2
        add = x.random() < 0.3
        arms, chans = [], []
        for _ in range(x.choice([2, 3, 4, 6, 16])):
            r = x.random()
            if r < 0.4 or s[0] == 'vec':
                o = c if add else x.randint(1, 3)
                if s[0] == 'vec':
                    arms.append(f"dense({o}, name = {self.name('d')})")
                else:
                    arms.append(f"conv{nsp}d({o}, {x.choice([1, 2, 3])}, pad = same, name = {self.name('c')})")
                chans.append(o)
                continue
            if r < 0.6:
                kind = 'avgpool' if self.fd else x.choice(['maxpool', 'avgpool'])
                arms.append(f"{kind}(3, stride = 1, pad = 1)")
            elif r < 0.8:
                arms.append(f"bn(name = {self.name('b')}) {self.act_for(s)}")
            else:
                arms.append(f"{self.act_for(s)} dropout(0.3)")
            chans.append(c)
        if add and any(o != c for o in chans):
            add = False
        self.lines.append(f"{ind}branch {{ {' | '.join(arms)} }} {'add' if add else 'concat'}")
        return (s[0], c if add else sum(chans)) + tuple(s[2:])

    def ext_step(self, s, ind):
        """One extended op on s, or None (then the usual step runs)."""
        x = self.x
        r = x.random()
        if r < 0.12:
            return self.ext_join(s, ind)
        if r < 0.22:
            self.lines.append(f"{ind}{self.act_for(s)}")
            return s
        if r < 0.27:
            self.lines.append(f"{ind}dropout({x.choice([0.2, 0.5])})")
            return s
        if r < 0.35:
            return self.ext_block(s, ind)
        if r < 0.4:
            return self.ext_branch(s, ind)
        if s[0] == 'vec':
            return self.ext_vec(s, ind)
        if r < 0.45:
            f = x.randint(2, 8)
            self.lines.append(f"{ind}{x.choice(['', 'flatten '])}dense({f}{self.attrs()}, name = {self.name('d')})")
            return ('vec', f)
        if r < 0.62:
            return self.ext_conv(s, ind)
        if r < 0.75:
            return self.ext_pool(s, ind)
        if s[0] == '1d':
            return None
        if r < 0.82:
            size = x.randint(1, s[1] + 2)
            extra = "".join([f", alpha = {x.choice([0.5, 1.0])}" if x.random() < 0.7 else "",
                             f", beta = {x.choice([0.5, 0.75])}" if x.random() < 0.5 else "",
                             f", k = {x.choice([1.0, 2.0])}" if x.random() < 0.5 else ""])
            self.lines.append(f"{ind}lrn({size}{extra})")
            return s
        if r < 0.88 and max(s[2:]) > 1:
            return self.ext_crop(s, ind)
        if r < 0.95:   # a residual whose shortcut is projected
            c2, nsp = x.randint(1, 5), len(s) - 2
            self.lines.append(f"{ind}residual(shortcut = conv{nsp}d({c2}, 1, name = {self.name('c')})) {{ "
                              f"{self.keep_shape(s)} conv{nsp}d({c2}, 1, name = {self.name('c')}) }}")
            return (s[0], c2) + tuple(s[2:])
        return None

    def ext_heads(self, s, bands, classes, three, patch):
        """The losses of an extended net: softmax before the loss, label smoothing, an mse or l1
        head on a named value, several domains (the classes differ; shared blocks share)."""
        x = self.x
        ce = []
        if x.random() < 0.3:
            ce.append(f"label_smoothing = {x.choice([0.1, 0.3])}")
        head = rec = ""
        if x.random() < 0.3 and self.saved:
            v, t = x.choice(self.saved)
            loss = 'mse' if self.fd else x.choice(['mse', 'l1'])   # l1: a kink at every target
            target = x.choice(['centre_spectrum', 'input_patch'])
            # the net's parameters, not numbers: a second domain has other bands
            if target == 'centre_spectrum':
                dec = "dense(bands, name = dec)"
            elif self.spectral:
                dec = "dense(bands, name = dec) reshape [1, bands]"
            elif three:
                dec = "dense(bands * patch * patch, name = dec) reshape [1, bands, patch, patch]"
            else:
                dec = "dense(bands * patch * patch, name = dec) reshape [bands, patch, patch]"
            rec = f"  rec = {v} {dec}\n"
            head = (f"  loss {loss}(head = rec, target = {target}, "
                    f"weight = {x.choice([0.5, 1.0, 2.0])})\n")
            ce.insert(0, "head = logits")
        if x.random() < 0.2 and not self.flags:
            self.flags += ["--domain", f"a:classes={classes}", "--domain", f"b:classes={x.randint(2, 5)}"]
        sm = " softmax" if x.random() < 0.2 else ""
        lead = "logits = " if head else ""
        cls, kind = f"dense(classes, name = fc){sm}", "softmax_cross_entropy"
        # a logit map trained per pixel: square, centred on the patch
        if s[0] in ('2d', '3d') and not self.spectral and s[-1] == s[-2] and (patch - s[-1]) % 2 == 0 \
                and (s[0] == '2d' or s[2] == 1) and x.random() < 0.3:
            fold = f"reshape [{s[1]}, {s[-2]}, {s[-1]}] " if s[0] == '3d' else ""
            cls, kind = f"{fold}conv2d(classes, 1, name = fc)", "pixel_cross_entropy"
        return (f"  {lead}{cls}\n{rec}"
                f"  loss {kind}{'(' + ', '.join(ce) + ')' if ce else ''}\n{head}")

    def domains(self, s, bands, classes):
        """Sometimes two domains with other bands (and classes), from a generator of their own
        (so the nets without are the ones their seeds gave before): a first layer per domain
        brings the input to one shape (conv3d over [depth - D + 1, 1, 1], conv1d over
        length - L + 1, a 1x1 conv2d), the rest is one net, shared blocks shared across. The
        input is then no value to join (its shape differs)."""
        d = random.Random(self.seed + 3000017)
        if d.random() >= 0.25:
            self.saved.append(('inp', s))
            return s
        other = max(2 if s[0] != '1d' else 6, bands + d.choice([-2, -1, 1, 2, 3]))
        if other == bands:
            other += 1
        self.flags += ["--domain", f"a:bands={bands},classes={classes}",
                       "--domain", f"b:bands={other},classes={d.randint(2, 5)}"]
        c = d.randint(1, 4)
        if s[0] == '3d':
            k = d.randint(1, min(bands, other))
            self.lines.append(f"  conv3d({c}, [depth - {k - 1}, 1, 1], name = adapt)")
            return ('3d', c, k, s[3], s[4])
        if s[0] == '1d':
            n = d.randint(2, min(bands, other))
            self.lines.append(f"  conv1d({c}, length - {n - 1}, name = adapt)")
            return ('1d', c, n)
        self.lines.append(f"  conv2d({c}, 1, name = adapt)")
        return ('2d', c, s[2], s[3])

    def bn_attrs(self, text):
        """--ext, --fd: some BNs get eps, momentum, freeze (batch statistics without a trained
        scale and shift), lr_mult; from a generator of their own (the ops drawn are the same)."""
        b = random.Random(self.seed + 4000037)

        def one(m):
            a = "".join([", eps = 0.001" if b.random() < 0.2 else "",
                         ", momentum = 0.3" if b.random() < 0.2 else "",
                         ", freeze = true" if b.random() < 0.15 else "",
                         ", lr_mult = 0.5" if b.random() < 0.05 else ""])
            return f"bn({a[2:]}, name = {m.group(1)})" if a else m.group(0)
        return re.sub(r"\bbn\(name = (\w+)\)", one, text)

    def smooth(self, text):
        """--fd: the base generator's ReLUs and max pools made smooth."""
        text = re.sub(r"\brelu\b", lambda m: self.x.choice(['tanh', 'sigmoid', 'elu']), text)
        return re.sub(r"\bmaxpool\b", "avgpool", text)

    def net(self, seed):
        r = self.r
        three = r.random() < 0.6
        bands, patch, classes = r.randint(2, 6), r.choice([1, 3, 5]), r.randint(2, 4)
        s = ('3d', 1, bands, patch, patch) if three else ('2d', bands, patch, patch)
        inp = "[1, bands, patch, patch]" if three else "[bands, patch, patch]"
        self.spectral = False
        if self.q.random() < 0.3:   # a spectral net: the centre pixel's spectrum
            bands, patch = self.q.randint(6, 16), 1
            s, inp = ('1d', 1, bands), "[1, bands]"
            self.spectral = True
        if self.x:
            s = self.domains(s, bands, classes)
        for _ in range(r.randint(2, 7) + (self.x.randint(0, 3) if self.x else 0)):
            if s[0] == 'vec' and not self.x:
                break
            s = self.step(s, "  ", 0)
        if self.x and self.nest.random() < 0.3:
            s = self.nested_residual(s, "  ")
        if s[0] != 'vec' and r.random() < 0.5:
            self.lines.append("  avgpool(global)")
        body = "\n".join(self.lines)
        if not self.x:
            return (f"# random net, seed {seed} (tests/emit/random_nets.py)\n"
                    f"net rnd(bands = {bands}, classes = {classes}, patch = {patch}) {{\n"
                    f"  input {inp}\n{body}\n  dense(classes, name = fc)\n"
                    f"  loss softmax_cross_entropy\n}}\n")
        heads = self.ext_heads(s, bands, classes, three, patch)
        text = (f"# random net, seed {seed}, {'--fd' if self.fd else '--ext'} (tests/emit/random_nets.py)\n"
                + "".join(self.blocks)
                + f"net rnd(bands = {bands}, classes = {classes}, patch = {patch}) {{\n"
                f"  inp = input {inp}\n{body}\n{heads}}}\n")
        text = self.bn_attrs(text)
        return self.smooth(text) if self.fd else text


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def check_seed(a, seed):
    g = Gen(seed, a.ext, a.fd)
    text = g.net(seed)
    d = os.path.join(a.out, f"seed{seed}")
    os.makedirs(d, exist_ok=True)
    hsn = os.path.join(d, "rnd.hsn")
    with open(hsn, "w") as f:
        f.write(text)
    steps = [[a.hsicc, "emit", hsn, "-o", d, "--name", "rw", *g.flags],
             [a.hsicc, "emit", hsn, "-o", d, "--name", "plain", "--no-rewrite", *g.flags,
              *(["--no-fuse"] if g.x else [])]]
    exe = os.path.join(d, "net_check")
    defs = ["-DNET=rw_net", "-DNET_PLAIN=plain_net", f"-DFD_CHECK={int(a.fd)}"] + (["-DHSICC_WITH_DNNL=1"] if a.dnnl else [])
    steps.append([a.cc, "-std=c11", "-O1", *defs, "-I", a.include, "-I", d, a.net_check,
                  os.path.join(d, "rw.c"), os.path.join(d, "plain.c"), "-o", exe, a.lib, *a.link.split()])
    steps.append([exe])
    for cmd in steps:
        p = run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"))
        if p.returncode != 0:
            print(f"FAIL seed {seed}: {' '.join(cmd[:3])} ... exit {p.returncode}\n{p.stdout}\n"
                  f"--- netdef ---{' (emit ' + ' '.join(g.flags) + ')' if g.flags else ''}\n{text}")
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
    ap.add_argument("--ext", action="store_true", help="the extended ops (a third generator)")
    ap.add_argument("--fd", action="store_true",
                    help="extended ops, smooth activations only, finite differences (FD_CHECK)")
    ap.add_argument("--seed", type=int, action="append", default=[],
                    help="a seed to run as well (repeatable): one that once failed")
    a = ap.parse_args()
    seeds = list(range(a.first, a.first + a.count)) + [s for s in a.seed if not a.first <= s < a.first + a.count]
    bad = [s for s in seeds if not check_seed(a, s)]
    print("FAIL seeds %s" % bad if bad else "ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
