"""Seeded random netdefs for the ONNX export tests (tests/onnx/run_tests.py).

make(seed) -> (netdef text, patch): a net `rnd(bands = 20, classes = 5, patch = P)` on a 2-D
([bands, patch, patch]) or 3-D ([1, bands, patch, patch]) input, a few random layers whose shapes
are tracked here so every kernel fits, then a head giving the logits. The layers drawn from:
conv2d/conv3d with stride, padding (valid, an integer, same, asymmetric [before, after]),
dilation, groups and bias = false; bn; relu, leaky_relu, elu, sigmoid, tanh; dropout; max and
average pooling (strided, padded, count_include_pad both ways); residual blocks (identity or a
projection shortcut, add + relu); branches joined by concat or add (of 2 or 3 arms); fold and reshape between
3-D and 2-D; heads: global pooling + dense, flatten + dense + bn (1-D BN) + dense, dense over a
whole map, or a conv covering the map ([classes, 1, 1] logits). FEATURES / features() tell which
features a net text shows, for the coverage check over the seeds the tests use.
"""
import math
import random
import re

BANDS, CLASSES = 20, 5

# feature -> a regular expression that finds it in a netdef text
FEATURES = {
    "conv2d": r"conv2d\(", "conv3d": r"conv3d\(", "stride": r"stride = ", "pad int": r"pad = 1",
    "pad same": r"pad = same", "pad asymmetric": r"pad = \[\[", "dilation": r"dilation = ",
    "groups": r"groups = ", "no bias": r"bias = false", "bn": r"\bbn\b", "relu": r"\brelu\b",
    "leaky_relu": r"leaky_relu\(", "elu": r"\belu\(", "sigmoid": r"sigmoid", "tanh": r"tanh",
    "dropout": r"dropout\(", "maxpool": r"maxpool\([^g]", "avgpool": r"avgpool\([^g]",
    "count_include_pad false": r"count_include_pad = false", "padded pool": r"# pool_pad",
    "global avgpool": r"avgpool\(global\)", "global maxpool": r"maxpool\(global\)",
    "residual": r"residual \{", "projection shortcut": r"residual\(shortcut",
    "concat": r"\} concat", "branch add": r"\} add", "add of 3": r"\{[^{}|]*\|[^{}|]*\|[^{}|]*\} add", "fold": r"\bfold\b", "reshape": r"reshape \[",
    "flatten": r"\bflatten\b", "dense": r"dense\(", "conv head": r"# head: conv",
    "1-D bn": r"dense\(16\) bn",
}


def out_len(n, k, s, lo, hi, d=1):
    span = d * (k - 1) + 1
    return (n + lo + hi - span) // s + 1 if n + lo + hi >= span else 0


def same_pads(n, k, s, d=1):
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def fmt(v):
    return str(v[0]) if len(set(v)) == 1 else "[%s]" % ", ".join(map(str, v))


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.lines = []

    def conv_text(self, shape, out, k, s=None, pad=None, dil=None, groups=1, bias=True):
        op = "conv2d" if len(shape) == 3 else "conv3d"
        t = "%s(%d, %s" % (op, out, fmt(k))
        if s and any(x != 1 for x in s):
            t += ", stride = %s" % fmt(s)
        if pad:
            t += ", pad = %s" % pad
        if dil and any(x != 1 for x in dil):
            t += ", dilation = %s" % fmt(dil)
        if groups > 1:
            t += ", groups = %d" % groups
        if not bias:
            t += ", bias = false"
        return t + ")"

    def conv(self, shape):
        """A random conv that fits; returns (text, output shape)."""
        r, sp = self.r, shape[1:]
        c = shape[0]
        out = r.choice([4, 6, 8, 12])
        groups = 1
        if r.random() < 0.25:
            common = [g for g in (2, 3, 4) if c % g == 0 and out % g == 0]
            groups = r.choice(common) if common else 1
        k, s, d = [], [], []
        for i, n in enumerate(sp):
            spectral = len(sp) == 3 and i == 0
            k.append(r.choice([1, 3, 5, 7] if spectral else [1, 3, 3, 5]))
            s.append(2 if r.random() < 0.2 and n >= 4 else 1)
            d.append(2 if r.random() < 0.15 and k[-1] > 1 else 1)
        mode = r.choice(["valid", "int", "same", "asym"])
        lo, hi, pad = [0] * len(sp), [0] * len(sp), None
        if mode == "int":
            lo = hi = [1] * len(sp)
            pad = "1"
        elif mode == "same":
            for i, n in enumerate(sp):
                lo[i], hi[i] = same_pads(n, k[i], s[i], d[i])
            pad = "same"
        elif mode == "asym":
            lo = [r.randint(0, 2) for _ in sp]
            hi = [r.randint(0, 2) for _ in sp]
            pad = "[%s]" % ", ".join("[%d, %d]" % (a, b) for a, b in zip(lo, hi))
        o = [out_len(n, k[i], s[i], lo[i], hi[i], d[i]) for i, n in enumerate(sp)]
        if min(o) < 1:   # does not fit: a 1x1 conv always does
            return self.conv_text(shape, out, [1] * len(sp), groups=groups), [out] + sp
        return (self.conv_text(shape, out, k, s, pad, d, groups, r.random() > 0.2), [out] + o)

    def pool(self, shape):
        r, sp = self.r, shape[1:]
        mx = r.random() < 0.5
        k = [r.choice([1, 2]) if len(sp) == 3 and i == 0 else r.choice([2, 3]) for i in range(len(sp))]
        k = [min(a, n) for a, n in zip(k, sp)]
        s = list(k) if r.random() < 0.5 else [1 if r.random() < 0.5 else 2 for _ in sp]
        mode = r.choice(["none", "none", "int", "same"])
        lo, hi, t_pad = [0] * len(sp), [0] * len(sp), ""
        if mode == "int" and min(k) >= 2:
            lo = hi = [1] * len(sp)
            t_pad = ", pad = 1"
        elif mode == "same":
            for i, n in enumerate(sp):
                lo[i], hi[i] = same_pads(n, k[i], s[i])
            t_pad = ", pad = same"
        o = [out_len(n, k[i], s[i], lo[i], hi[i]) for i, n in enumerate(sp)]
        if min(o) < 1:
            return None, shape
        t = "%s(%s" % ("maxpool" if mx else "avgpool", fmt(k))
        if s != k:
            t += ", stride = %s" % fmt(s)
        t += t_pad
        if not mx and r.random() < 0.5:
            t += ", count_include_pad = false"
        t += ")"
        if t_pad:
            t += "   # pool_pad"
        return t, [shape[0]] + o

    def act(self):
        r = self.r
        return r.choice(["relu", "relu", "leaky_relu(0.1)", "elu(0.7)", "sigmoid", "tanh"])

    def same_conv(self, shape, out, k=3):
        kk = [k] * (len(shape) - 1)
        return self.conv_text(shape, out, kk, pad="same")

    def residual(self, shape):
        r = self.r
        if r.random() < 0.5:
            body = "bn %s %s" % (self.act(), self.same_conv(shape, shape[0]))
            t = "residual { %s }" % body
            out = list(shape)
        else:
            c2 = r.choice([4, 8])
            proj = self.conv_text(shape, c2, [1] * (len(shape) - 1))
            t = "residual(shortcut = %s) { %s bn }" % (proj, self.same_conv(shape, c2))
            out = [c2] + shape[1:]
        if r.random() < 0.6:
            t += " relu"
        return t, out

    def branch(self, shape):
        r, n = self.r, len(shape) - 1
        if r.random() < 0.6:
            a, b = r.choice([2, 4]), r.choice([2, 4, 6])
            arms = [self.conv_text(shape, a, [1] * n), self.same_conv(shape, b) + " bn relu"]
            c = a + b
            if r.random() < 0.5:
                arms.append("maxpool(%s, stride = 1, pad = 1)" % fmt([3] * n))
                c += shape[0]
            return "branch { %s } concat" % " | ".join(arms), [c] + shape[1:]
        c = r.choice([4, 6])
        arms = [self.conv_text(shape, c, [1] * n), self.same_conv(shape, c) + " bn"]
        if r.random() >= 0.5:   # an add of three values (ONNX Sum; 2 values: residual)
            arms.append(self.conv_text(shape, c, [1] * n) + " tanh")
        return "branch { %s } add" % " | ".join(arms), [c] + shape[1:]

    def to_2d(self, shape):
        """3-D -> 2-D: a conv over the whole depth and fold (SSRN's way: [1, C, H, W], still
        3-D data then), or a reshape to [C*D, H, W]."""
        c, d, h, w = shape
        if self.r.random() < 0.5:
            out = self.r.choice([6, 8])
            return "%s fold" % self.conv_text(shape, out, [d, 1, 1]), [1, out, h, w]
        return "reshape [%d, %d, %d]" % (c * d, h, w), [c * d, h, w]

    def head(self, shape):
        r = self.r
        choice = r.choice(["gap", "mlp", "dense", "conv"])
        if choice == "gap":
            return ("avgpool(global) dropout(0.2) dense(classes)" if r.random() < 0.5
                    else "maxpool(global) dense(classes)")
        if choice == "mlp":
            return "flatten dense(16) bn %s dense(classes)" % self.act()
        if choice == "dense" and shape[0] * math.prod(shape[1:]) <= 2000:
            return "dense(classes)"
        return "# head: conv\n  %s" % self.conv_text(shape, CLASSES, shape[1:]).replace(
            "(%d," % CLASSES, "(classes,", 1)

    def net(self):
        r = self.r
        three_d = r.random() < 0.5
        patch = r.choice([5, 7, 9])
        shape = [1, BANDS, patch, patch] if three_d else [BANDS, patch, patch]
        body = []
        text, shape = self.conv(shape)
        body.append("%s bn %s" % (text, self.act()))
        for _ in range(r.randint(3, 6)):
            kind = r.choice(["conv", "conv", "pool", "act", "residual", "branch", "dropout",
                             "bn", "reshape"])
            if kind == "conv":
                text, shape = self.conv(shape)
                if r.random() < 0.5:
                    text += " bn"
            elif kind == "pool":
                text, shape = self.pool(shape)
            elif kind == "act":
                text = self.act()
            elif kind == "residual":
                text, shape = self.residual(shape)
            elif kind == "branch":
                text, shape = self.branch(shape)
            elif kind == "dropout":
                text = "dropout(0.3)"
            elif kind == "bn":
                text = "bn(eps = 1e-3, momentum = 0.01)"
            else:
                text, shape = self.to_2d(shape) if len(shape) == 4 else (None, shape)
            if text:
                body.append(text)
        body.append(self.head(shape))
        inp = "[1, bands, patch, patch]" if three_d else "[bands, patch, patch]"
        text = "net rnd(bands = %d, classes = %d, patch = %d) {\n  input %s\n  %s\n" \
               "  loss softmax_cross_entropy\n}\n" % (BANDS, CLASSES, patch, inp, "\n  ".join(body))
        return text, patch


def features(text):
    """The FEATURES a netdef text shows."""
    return {f for f, rx in FEATURES.items() if re.search(rx, text)}


def make(seed):
    text, patch = Gen(seed).net()
    return "# generated by tests/onnx/random_net.py, seed %d\n%s" % (seed, text), patch


if __name__ == "__main__":
    import sys
    seen = set()
    for s in sys.argv[1:]:
        text = make(int(s))[0]
        seen |= features(text)
        print(text)
    print("# features not covered: %s" % sorted(set(FEATURES) - seen))
