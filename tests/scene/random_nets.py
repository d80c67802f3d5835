#!/usr/bin/env python3
"""Random netdefs for the scene-inference equality tests (and anything else that wants nets
which mix every kind of op the scene lowering classifies): pointwise, valid and same-padded
convs, strided convs, sliding and covering pools, dense heads on maps, residuals, concat
branches, BN, every activation, 2-D and 3-D; half the 2-D nets end with their maps read as a
sequence [C, H*W] through conv1d, 1-D pools, transpose and gru / lstm (ops a scene program runs
per patch). Deterministic: random_nets.py OUT_DIR COUNT SEED [EXTRA]. Each net tracks its shapes
so that every file compiles. The sequence tails draw from a second generator: without them the
nets are the ones the seed gave before they were added.

EXTRA (default 0) more nets rndx0.hsn .. come from a third generator (netx), so the COUNT nets
stay what they were: any patch size from 1 to 9 (even too), non-square and dilated kernels,
strided convs and pools that cover their map, spectral strides and padding and spectral pools in
the pixel prefix, prelu / lrn / softmax, add branches, named values joined later, padded and
ceil_mode pools, crops, flatten heads with a 1-D BN, a second head (mse on the centre
spectrum), and two domains (a first line `# emit: --domain ...` gives hsicc emit's options)."""
import os
import random
import sys


def act(r):
    return r.choice(["relu", "relu", "sigmoid", "tanh", "leaky_relu(0.1)", "elu"])


def seq_tail(q, c, n):
    """[C, H, W] read as [C, L = H * W], then 1 to 3 sequence ops."""
    body = [f"reshape [{c}, {n}]"]
    for _ in range(q.randint(1, 3)):
        k = q.choice(["conv", "conv", "pool", "transpose", "rnn", "rnn"])
        if k == "conv":
            c = q.randint(2, 6)
            body.append(f"conv1d({c}, 3, pad = same) bn {q.choice(['relu', 'tanh'])}")
        elif k == "pool" and n >= 2:
            body.append(f"{q.choice(['maxpool', 'avgpool'])}(2)")
            n //= 2
        elif k == "transpose":
            body.append(q.choice(["transpose(0, 1)", "permute([1, 0])"]))
            c, n = n, c
        elif k == "rnn":
            h, bi = q.randint(2, 4), q.random() < 0.4
            body.append(f"{q.choice(['gru', 'lstm'])}({h}{', bidirectional = true' if bi else ''})")
            c = h * (2 if bi else 1)
    return body


def net2d(r, i, q):
    bands, classes, p = r.randint(5, 12), r.randint(2, 5), r.choice([5, 7])
    c, h = bands, p
    body = []
    for _ in range(r.randint(3, 7)):
        k = r.choice(["pw", "pw", "valid", "same", "res", "branch", "pool", "bn", "act", "drop", "stride"])
        if k == "pw":
            c = r.randint(3, 10)
            body.append(f"conv2d({c}, 1)")
        elif k == "valid" and h >= 3:
            c = r.randint(3, 10)
            body.append(f"conv2d({c}, 3)")
            h -= 2
        elif k == "same":
            c = r.randint(3, 10)
            body.append(f"conv2d({c}, 3, pad = same) bn {act(r)}")
        elif k == "stride" and h >= 3:
            c = r.randint(3, 8)
            body.append(f"conv2d({c}, 3, stride = 2)")
            h = (h - 3) // 2 + 1
        elif k == "res":
            inner = r.choice([f"bn relu conv2d({c}, 1)", f"conv2d({c}, 3, pad = same) bn relu",
                              f"conv2d({c}, 1) bn {act(r)} conv2d({c}, 1)"])
            body.append(f"residual {{ {inner} }}")
        elif k == "branch":
            a, b = r.randint(2, 6), r.randint(2, 6)
            if h >= 3 and r.random() < 0.5:
                body.append(f"branch {{ conv2d({a}, 3) bn relu maxpool({h - 2}) | conv2d({b}, {h}) }} concat")
                h = 1
            else:
                body.append(f"branch {{ conv2d({a}, 1) | conv2d({b}, 1) bn {act(r)} }} concat")
            c = a + b
        elif k == "pool" and h >= 2:
            if r.random() < 0.5:
                body.append("maxpool(2, stride = 1)")
                h -= 1
            else:
                body.append(f"avgpool({h})")
                h = 1
        elif k == "bn":
            body.append("bn")
        elif k == "act":
            body.append(act(r))
        elif k == "drop":
            body.append("dropout(0.3)")
    head = r.choice(["gap", "dense", "conv"])
    if q.random() < 0.5:
        body += seq_tail(q, c, h * h)
        head = "dense" if head == "conv" else head
    if head == "gap":
        body.append(f"avgpool(global) dense({classes})")
    elif head == "dense":
        body.append(f"dense({classes})")
    else:
        body.append(f"conv2d({classes}, {h})")
    return bands, classes, p, f"input [bands, patch, patch]", body


def net3d(r, i, q):
    bands, classes, p = r.randint(12, 24), r.randint(2, 5), r.choice([5, 7])
    c, d, h = 1, bands, p
    body = []
    k0 = r.choice([3, 5])
    c = r.randint(2, 6)
    body.append(f"conv3d({c}, kernel = [{k0}, 1, 1], stride = [2, 1, 1]) bn relu")
    d = (d - k0) // 2 + 1
    for _ in range(r.randint(2, 5)):
        k = r.choice(["spec", "res", "valid", "same", "bn", "act"])
        if k == "spec":
            body.append(f"conv3d({c}, kernel = [3, 1, 1], pad = same) bn {act(r)}")
        elif k == "res":
            body.append(f"residual {{ bn relu conv3d({c}, kernel = [3, 1, 1], pad = same) }}")
        elif k == "valid" and h >= 3:
            body.append(f"conv3d({c}, kernel = [1, 3, 3])")
            h -= 2
        elif k == "same":
            body.append(f"conv3d({c}, kernel = [1, 3, 3], pad = same) bn relu")
        elif k == "bn":
            body.append("bn")
        else:
            body.append(act(r))
    c2 = r.randint(4, 12)
    body.append(f"conv3d({c2}, kernel = [depth, 1, 1]) bn relu fold")
    if h >= 3 and r.random() < 0.6:
        body.append(f"conv3d({r.randint(3, 8)}, kernel = [{c2}, 3, 3]) bn relu")
        h -= 2
    if r.random() < 0.5:
        body.append(f"residual {{ conv3d({'channels'}, kernel = [1, 3, 3], pad = same) bn relu }}")
    body.append(r.choice([f"avgpool(global) dropout(0.2) dense({classes})", f"dense({classes})"]))
    return bands, classes, p, "input [1, bands, patch, patch]", body


def olen(n, k, s=1, lo=0, hi=0, d=1, ceil=False):
    """Output extent of a window (ceil_mode as LANGUAGE.md states it), 0 when it does not fit."""
    span = d * (k - 1) + 1
    if n + lo + hi < span:
        return 0
    if not ceil:
        return (n + lo + hi - span) // s + 1
    o = -(-(n + lo + hi - span) // s) + 1
    return o - 1 if (o - 1) * s >= n + lo else o


def netx(x, i):
    """A net of the third generator (see the module's doc); shapes [c, (d,) h, w] tracked."""
    three = x.random() < 0.35
    p = x.choice([1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 9])
    two_dom = x.random() < 0.2 or i % 5 == 3   # (every fifth net: CTest has some)
    bands, classes = x.randint(4, 14) if not three else x.randint(8, 20), x.randint(2, 6)
    sh = [1, bands, p, p] if three else [bands, p, p]
    three0 = three
    body, names, emit = [], [], []
    if two_dom:
        b2 = max(2, bands + x.randint(-3, 3)) if not three else bands + 4   # (softmax: 2 channels)
        emit = ["--domain", "a:bands=%d,classes=%d" % (bands, classes),
                "--domain", "b:bands=%d,classes=%d" % (b2, x.randint(2, 5))]

    def sp():
        return sh[-2:]

    def with_sp(hw, c=None):
        return ([c if c is not None else sh[0]] + ([sh[1]] if three else []) + list(hw))

    def k2(a, b):
        return str(a) if a == b else "[%d, %d]" % (a, b)

    def kern(ka, kb, depth=1):
        return ("[%d, %d, %d]" % (depth, ka, kb)) if three else k2(ka, kb)

    def stride(st):
        return ", stride = %s" % (("[1, %d, %d]" % (st, st)) if three else st)

    def conv(c, ka, kb, extra="", depth=1):
        return "%s(%d, %s%s)" % ("conv3d" if three else "conv2d", c, kern(ka, kb, depth), extra)

    def pointwise():
        """Ops that keep [c, (d,) h, w] per position (or change c only)."""
        nonlocal sh
        k = x.choice(["pw", "pw", "bnact", "prelu", "lrn", "softmax", "addbr", "catbr", "res",
                      "spec", "specpool", "name"])
        if k == "pw":
            c = x.randint(2, 9)
            sh = with_sp(sp(), c)
            return conv(c, 1, 1) + " bn " + act(x)
        if k == "bnact":
            return "bn " + x.choice(["relu", "elu(0.5)", "leaky_relu(0.2)", "tanh", "sigmoid"])
        if k == "prelu":
            return x.choice(["prelu", "prelu(channels = 1)"])
        if k == "lrn":
            return "lrn(%d, alpha = 0.3, beta = 0.75, k = 1.5)" % x.randint(2, 5)
        if k == "softmax" and sh[0] > 1:
            return "softmax"
        if k == "addbr":
            c = x.randint(2, 8)
            arms = [conv(c, 1, 1), conv(c, 1, 1) + " bn relu"]
            if x.random() < 0.4:
                arms.append(conv(c, 1, 1) + " tanh")
            sh = with_sp(sp(), c)
            return "branch { %s } add" % " | ".join(arms)
        if k == "catbr":
            a, b = x.randint(1, 5), x.randint(1, 5)
            c0 = sh[0]
            sh = with_sp(sp(), a + b + c0)
            return "branch { %s | %s | dropout(0.1) } concat" % (conv(a, 1, 1), conv(b, 1, 1) + " prelu")
        if k == "res":
            return "residual { bn relu %s }" % conv(1, 1, 1).replace("(1,", "(channels,", 1)
        if k == "spec" and three:
            kd, sd = x.choice([3, 5]), x.choice([1, 2])
            pd = x.choice([0, 1, 2])
            d = olen(sh[1], kd, sd, pd, pd)
            if d < 1:
                return "bn"
            c = x.randint(1, 4)
            sh = [c, d] + sp()
            return "conv3d(%d, [%d, 1, 1], stride = [%d, 1, 1], pad = [%d, 0, 0]) bn relu" % (c, kd, sd, pd)
        if k == "specpool" and three and sh[1] >= 2:
            sh = [sh[0], sh[1] // 2] + sp()
            return "%s([2, 1, 1])" % x.choice(["maxpool", "avgpool"])
        if k == "name":
            nm = "v%d" % len(names)
            names.append((nm, list(sh)))
            return "%s = %s" % (nm, conv(sh[0], 1, 1))
        return act(x)

    def spatial():
        """Windows that may slide (valid, stride 1, dilated, covering) or run per patch."""
        nonlocal sh
        h, w = sp()
        k = x.choice(["valid", "dil", "rect", "vpool", "cover", "coverpool", "same", "stride",
                      "padpool", "ceilpool", "crop", "gpool"])
        if k == "valid" and min(h, w) >= 3:
            c = x.randint(2, 8)
            sh = with_sp([h - 2, w - 2], c)
            return conv(c, 3, 3) + " " + act(x)
        if k == "dil" and min(h, w) >= 5:
            c = x.randint(2, 8)
            sh = with_sp([h - 4, w - 4], c)
            return conv(c, 3, 3, ", dilation = %s" % ("2" if not three else "[1, 2, 2]"))
        if k == "rect" and h >= 3:
            c = x.randint(2, 8)
            kb = x.choice([1, 2]) if w >= 2 else 1
            sh = with_sp([h - 2, w - kb + 1], c)
            return conv(c, 3, kb)
        if k == "vpool" and min(h, w) >= 2:
            sh = with_sp([h - 1, w - 1])
            return "%s(%s, stride = 1)" % (x.choice(["maxpool", "avgpool"]), kern(2, 2))
        if k == "cover":
            c = x.randint(2, 8)
            st = x.choice([1, 2, 3])
            sh = with_sp([1, 1], c)
            return conv(c, h, w, stride(st) if st > 1 else "")
        if k == "coverpool":
            st = x.choice([1, 2])
            sh = with_sp([1, 1])
            return "%s(%s%s)" % (x.choice(["maxpool", "avgpool"]), kern(h, w),
                                 ", stride = 1" if st == 1 else "")
        if k == "same":
            c = x.randint(2, 8)
            sh = with_sp([h, w], c)
            return conv(c, 3, 3, ", pad = same") + " bn relu"
        if k == "stride" and min(h, w) >= 3:
            c = x.randint(2, 8)
            pd = x.choice([0, 1])
            sh = with_sp([olen(h, 3, 2, pd, pd), olen(w, 3, 2, pd, pd)], c)
            return conv(c, 3, 3, stride(2) + ((", pad = %s" % ("[0, 1, 1]" if three else "1")) if pd else ""))
        if k == "padpool" and min(h, w) >= 2:
            sh = with_sp([olen(h, 3, 1, 1, 1), olen(w, 3, 1, 1, 1)])
            if three:
                return "maxpool([1, 3, 3], stride = 1, pad = [0, 1, 1])"
            if x.random() < 0.5:
                return "maxpool(3, stride = 1, pad = 1)"
            return "avgpool(3, stride = 1, pad = 1%s)" % (
                ", count_include_pad = false" if x.random() < 0.5 else "")
        if k == "ceilpool" and min(h, w) >= 2:
            kk, st, pd = x.choice([2, 3]), 2, x.choice([0, 1])
            if pd and kk < 2:
                pd = 0
            oh, ow = olen(h, kk, st, pd, pd, ceil=True), olen(w, kk, st, pd, pd, ceil=True)
            if min(oh, ow) < 1 or kk > h + 2 * pd or kk > w + 2 * pd:
                return "bn"
            sh = with_sp([oh, ow])
            kt = kern(kk, kk) if not three else "[1, %d, %d]" % (kk, kk)
            pt = (", pad = %s" % ("1" if not three else "[0, 1, 1]")) if pd else ""
            return "%s(%s, stride = %s%s, ceil_mode = true)" % (
                x.choice(["maxpool", "avgpool"]), kt, "2" if not three else "[1, 2, 2]", pt)
        if k == "crop" and min(h, w) >= 3:
            a, b = x.randint(1, h - 1), x.randint(1, w - 1)
            sh = with_sp([a, b])
            if x.random() < 0.5:
                return "crop(size = [%d, %d], offset = [%d, %d])" % (a, b, x.randint(0, h - a),
                                                                    x.randint(0, w - b))
            return "crop([%d, %d])" % (a, b)
        if k == "gpool":
            sh = [sh[0]] + [1] * (len(sh) - 1)
            return "%s(global)" % x.choice(["maxpool", "avgpool"])
        return "bn"

    for _ in range(x.randint(1, 4)):
        body.append(pointwise())
    for _ in range(x.randint(1, 5)):
        body.append(spatial() if x.random() < 0.7 else pointwise())
    if three and x.random() < 0.7:   # to 2-D: SSRN's fold, or a reshape
        c2 = x.randint(3, 9)
        if x.random() < 0.5:
            body.append("conv3d(%d, kernel = [depth, 1, 1]) bn relu fold" % c2)
            sh = [1, c2] + sp()
        else:
            body.append("reshape [-1, %d, %d]" % tuple(sp()))
            three = False
            sh = [sh[0] * sh[1]] + sp()
        for _ in range(x.randint(0, 2)):
            body.append(spatial() if x.random() < 0.5 else pointwise())
    # a named value joined back (same shape only)
    for nm, s0 in names:   # (one domain: two may give the value other channels)
        if s0 == sh and x.random() < 0.7 and not two_dom:
            body.append("%s(%s)" % (x.choice(["add", "concat"]), nm))
            if body[-1].startswith("concat"):
                sh = [sh[0] * 2] + sh[1:]
            break
    heads = ["dense", "gap", "mlp", "cover"]
    hd = x.choice(heads)
    if hd == "dense":
        body.append("dense(classes)")
    elif hd == "gap":
        body.append("%s(global) dense(classes)" % x.choice(["avgpool", "maxpool"]))
    elif hd == "mlp":
        body.append("flatten dense(%d) bn %s dense(classes)" % (x.randint(3, 9), act(x)))
    else:
        h, w = sp()
        body.append("%s(classes, %s)" % ("conv3d" if three else "conv2d",
                                         "[depth, %d, %d]" % (h, w) if three else k2(h, w)))
    loss = ["loss softmax_cross_entropy"]
    if x.random() < 0.25:   # a second head off the first value of the trunk
        z = body[0].split(" = ")[0] if body[0].startswith("v0 = ") else "z"
        if z == "z":
            body[0] = "z = " + body[0]
        body[-1] = "logits = " + body[-1]
        body.append("rec = %s flatten dense(bands)" % z)
        loss = ["loss mse(head = rec, target = centre_spectrum, weight = 0.5)",
                "loss softmax_cross_entropy(head = logits)"]
        if x.random() < 0.5:
            loss.reverse()
    inp = "input [1, bands, patch, patch]" if three0 else "input [bands, patch, patch]"
    return bands, classes, p, inp, body, emit, loss


def main():
    out, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    r, q = random.Random(seed), random.Random(seed + 1)
    extra = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    x = random.Random(seed + 2)
    for i in range(extra):
        bands, classes, p, inp, body, emit, loss = netx(x, i)
        text = (["# emit: " + " ".join(emit)] if emit else []) + [
            f"# random net x{i} (tests/scene/random_nets.py, seed {seed}, netx)",
            f"net rndx{i}(bands = {bands}, classes = {classes}, patch = {p}) {{", f"  {inp}"]
        text += [f"  {line}" for line in body] + [f"  {line}" for line in loss] + ["}", ""]
        with open(os.path.join(out, f"rndx{i}.hsn"), "w") as f:
            f.write("\n".join(text))
    for i in range(count):
        bands, classes, p, inp, body = (net2d if i % 2 == 0 else net3d)(r, i, q)
        text = [f"# random net {i} (tests/scene/random_nets.py, seed {seed})",
                f"net rnd{i}(bands = {bands}, classes = {classes}, patch = {p}) {{", f"  {inp}"]
        text += [f"  {line}" for line in body]
        text += ["  loss softmax_cross_entropy", "}", ""]
        with open(os.path.join(out, f"rnd{i}.hsn"), "w") as f:
            f.write("\n".join(text))


if __name__ == "__main__":
    main()
