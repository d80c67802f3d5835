#!/usr/bin/env python3
"""Random netdefs for the scene-inference equality tests (and anything else that wants nets
which mix every kind of op the scene lowering classifies): pointwise, valid and same-padded
convs, strided convs, sliding and covering pools, dense heads on maps, residuals, concat
branches, BN, every activation, 2-D and 3-D; half the 2-D nets end with their maps read as a
sequence [C, H*W] through conv1d, 1-D pools, transpose and gru / lstm (ops a scene program runs
per patch). Deterministic: random_nets.py OUT_DIR COUNT SEED. Each net tracks its shapes so that
every file compiles. The sequence tails draw from a second generator: without them the nets
are the ones the seed gave before they were added."""
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


def main():
    out, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    r, q = random.Random(seed), random.Random(seed + 1)
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
