#!/usr/bin/python3
"""ref_vs_torch.py — the reference kernels against PyTorch, forward and backward.

For each case: random float32 inputs (fixed seed) go to test_ref_torch_drv, which runs the
reference backend; PyTorch recomputes everything in float64 from the same float32 inputs
(autograd for the gradients) and the two must agree to float precision:
max |ref - torch| / max(1, max |torch|) < 2e-7 per tensor (float32 rounding is 6e-8).
Usage: ref_vs_torch.py DRIVER. Exits 77 (CTest skip) when torch cannot be imported.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    print("torch or numpy missing: skipped")
    sys.exit(77)

TOL = 2e-7
torch.set_num_threads(1)
rng = np.random.default_rng(20240611)
failures = 0


def rand(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def run(driver, op, cfg, inputs, outputs):
    """Writes cfg and inputs, runs the driver, returns the named outputs as float64 arrays."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "cfg.txt"), "w") as f:
            f.write(" ".join(str(v) for v in cfg) + "\n")
        for name, arr in inputs.items():
            arr.astype("<f4").tofile(os.path.join(d, name + ".f32"))
        subprocess.run([driver, op, d], check=True)
        return {n: np.fromfile(os.path.join(d, n + ".f32"), dtype="<f4").astype(np.float64)
                for n in outputs}


def compare(case, got, want):
    global failures
    for name, w in want.items():
        w = w.detach().numpy().ravel() if torch.is_tensor(w) else np.ravel(w)
        g = got[name]
        if g.shape != w.shape:
            print(f"{case} {name}: {g.size} values, torch has {w.size}  FAIL")
            failures += 1
            continue
        err = np.max(np.abs(g - w)) / max(1.0, np.max(np.abs(w))) if w.size else 0.0
        bad = not err < TOL
        failures += bad
        print(f"{case:48s} {name:5s} max err {err:.2e}{'  FAIL' if bad else ''}")


def t64(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def torch_pads(lo, hi):
    """F.pad's order: last dim first, (lo, hi) per dim."""
    return [v for i in reversed(range(len(lo))) for v in (lo[i], hi[i])]


def conv_case(driver, name, shape, out_ch, groups, k, s, lo, hi, dil, bias):
    nsp = len(shape) - 2
    x = rand(*shape)
    w = rand(out_ch, shape[1] // groups, *k)
    b = rand(out_ch) if bias else np.zeros(out_ch, np.float32)
    xt, wt, bt = t64(x, True), t64(w, True), t64(b, True)
    conv = (F.conv1d, F.conv2d, F.conv3d)[nsp - 1]
    y = conv(F.pad(xt, torch_pads(lo, hi)), wt, bt if bias else None, stride=s, dilation=dil,
             groups=groups)
    dy = rand(*y.shape)
    y.backward(t64(dy))
    cfg = [len(shape), *shape, out_ch, groups]
    for i in range(nsp):
        cfg += [k[i], s[i], lo[i], hi[i], dil[i]]
    cfg.append(int(bias))
    got = run(driver, "conv", cfg, {"x": x, "w": w, "b": b, "dy": dy}, ["y", "dx", "dw", "db"])
    want = {"y": y, "dx": xt.grad, "dw": wt.grad}
    if bias:
        want["db"] = bt.grad
    compare(name, got, want)


def dense_case(driver, name, shape, out, bias):
    x = rand(*shape)
    f = int(np.prod(shape[1:]))
    w, b = rand(out, f), rand(out) if bias else np.zeros(out, np.float32)
    xt, wt, bt = t64(x, True), t64(w, True), t64(b, True)
    y = F.linear(xt.flatten(1), wt, bt if bias else None)
    dy = rand(*y.shape)
    y.backward(t64(dy))
    got = run(driver, "dense", [len(shape), *shape, out, int(bias)],
              {"x": x, "w": w, "b": b, "dy": dy}, ["y", "dx", "dw", "db"])
    want = {"y": y, "dx": xt.grad, "dw": wt.grad}
    if bias:
        want["db"] = bt.grad
    compare(name, got, want)


def bn_case(driver, name, shape, eps, momentum, relu):
    c = shape[1]
    x, dy = rand(*shape, lo=-2, hi=2), rand(*shape)
    g, be = rand(c, lo=0.5, hi=1.5), rand(c, lo=-0.5, hi=0.5)
    rm, rv = rand(c, lo=-0.2, hi=0.2), rand(c, lo=0.8, hi=1.2)
    xt, gt, bt = t64(x, True), t64(g, True), t64(be, True)
    rmt, rvt = t64(rm), t64(rv)
    # the float32 values the kernel sees
    eps32, mom32 = float(np.float32(eps)), float(np.float32(momentum))
    y = F.batch_norm(xt, rmt, rvt, gt, bt, training=True, momentum=mom32, eps=eps32)
    if relu:
        y = F.relu(y)
    y.backward(t64(dy))
    # inference with the running statistics the kernel updated (as float32)
    rm_upd, rv_upd = rmt.float().double(), rvt.float().double()
    yinf = F.batch_norm(t64(x), rm_upd, rv_upd, t64(g), t64(be), training=False, eps=eps32)
    if relu:
        yinf = F.relu(yinf)
    got = run(driver, "bn", [len(shape), *shape, repr(eps), repr(momentum), int(relu)],
              {"x": x, "gamma": g, "beta": be, "rm": rm, "rv": rv, "dy": dy},
              ["y", "rm", "rv", "dx", "dg", "db", "yinf"])
    compare(name, got, {"y": y, "rm": rmt, "rv": rvt, "dx": xt.grad, "dg": gt.grad,
                        "db": bt.grad, "yinf": yinf})


def pool_case(driver, name, shape, is_max, k, s, lo, hi, cip, ceil=False):
    nsp = len(shape) - 2
    # distinct values, so max pooling has no ties
    x = (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1).astype(np.float32)
    xt = t64(x, True)
    extra = [0] * nsp
    if ceil:   # PyTorch's ceil_mode (symmetric padding): the extra is how far its last window
        assert lo == hi  # runs past the padding, from PyTorch's output size
        f = ((F.max_pool1d, F.max_pool2d, F.max_pool3d) if is_max
             else (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d))[nsp - 1]
        kw = {} if is_max else {"count_include_pad": bool(cip)}
        y = f(xt, k, s, padding=lo, ceil_mode=True, **kw)
        extra = [max(0, (y.shape[2 + i] - 1) * s[i] + k[i] - (shape[2 + i] + lo[i] + hi[i]))
                 for i in range(nsp)]
        assert any(extra), name + ": no window runs past the padding"
    elif is_max:
        mp = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nsp - 1]
        y = mp(F.pad(xt, torch_pads(lo, hi), value=-np.inf), k, s)
    elif cip:
        ap = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nsp - 1]
        y = ap(F.pad(xt, torch_pads(lo, hi)), k, s)
    else:
        assert lo == hi, "PyTorch excludes padding only with symmetric padding"
        ap = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nsp - 1]
        y = ap(xt, k, s, padding=lo, count_include_pad=False)
    dy = rand(*y.shape)
    y.backward(t64(dy))
    cfg = [len(shape), *shape, int(is_max)]
    for i in range(nsp):
        cfg += [k[i], s[i], lo[i], hi[i]]
    cfg.append(int(cip))
    cfg += extra
    got = run(driver, "pool", cfg, {"x": x, "dy": dy}, ["y", "dx"])
    compare(name, got, {"y": y, "dx": xt.grad})


def permute_case(driver, name, shape, perm):
    x, dy = rand(*shape), None
    xt = t64(x, True)
    y = xt.permute(0, *[p + 1 for p in perm])
    dy = rand(*y.shape)
    y.backward(t64(dy))
    got = run(driver, "permute", [len(shape), *shape, *perm], {"x": x, "dy": dy}, ["y", "dx"])
    compare(name, got, {"y": y, "dx": xt.grad})


def rnn_case(driver, name, n, f, steps, h, lstm, reverse, sequence, bias):
    """One layer of nn.GRU / nn.LSTM on x [n, f, steps] (channels-first), PyTorch's weights."""
    g = (4 if lstm else 3) * h
    x = rand(n, f, steps)
    wih, whh = rand(g, f, lo=-0.6, hi=0.6), rand(g, h, lo=-0.6, hi=0.6)
    bih, bhh = rand(g, lo=-0.3, hi=0.3), rand(g, lo=-0.3, hi=0.3)
    mod = (torch.nn.LSTM if lstm else torch.nn.GRU)(f, h, bias=bias).double()
    with torch.no_grad():
        mod.weight_ih_l0.copy_(t64(wih))
        mod.weight_hh_l0.copy_(t64(whh))
        if bias:
            mod.bias_ih_l0.copy_(t64(bih))
            mod.bias_hh_l0.copy_(t64(bhh))
    xt = t64(x, True)
    seq = xt.permute(2, 0, 1)          # [steps, n, f]
    if reverse:
        seq = seq.flip(0)
    out, _ = mod(seq)                  # [steps, n, h]
    if reverse:
        out = out.flip(0)
    y = out.permute(1, 2, 0) if sequence else (out[0] if reverse else out[-1])
    dy = rand(*y.shape)
    y.backward(t64(dy))
    got = run(driver, "rnn", [3, n, f, steps, int(lstm), h, int(reverse), int(sequence), int(bias)],
              {"x": x, "wih": wih, "whh": whh, "bih": bih, "bhh": bhh, "dy": dy},
              ["y", "dx", "dwih", "dwhh", "dbih", "dbhh"])
    want = {"y": y, "dx": xt.grad, "dwih": mod.weight_ih_l0.grad, "dwhh": mod.weight_hh_l0.grad}
    if bias:
        want["dbih"] = mod.bias_ih_l0.grad
        want["dbhh"] = mod.bias_hh_l0.grad
    compare(name, got, want)


def act_case(driver, name, shape, kind, alpha):
    """kind: hsi_act_kind (1 leaky_relu, 2 elu); PyTorch's LeakyReLU / ELU"""
    x = rand(*shape, lo=-3, hi=3)
    xt = t64(x, True)
    y = F.leaky_relu(xt, alpha) if kind == 1 else F.elu(xt, alpha)
    dy = rand(*y.shape)
    y.backward(t64(dy))
    got = run(driver, "act", [len(shape), *shape, kind, repr(alpha)], {"x": x, "dy": dy}, ["y", "dx"])
    compare(name, got, {"y": y, "dx": xt.grad})


def lrn_case(driver, name, shape, size, alpha, beta, k):
    x = rand(*shape, lo=-2, hi=2)
    xt = t64(x, True)
    y = torch.nn.LocalResponseNorm(size, alpha, beta, k)(xt)
    dy = rand(*y.shape)
    y.backward(t64(dy))
    got = run(driver, "lrn", [len(shape), *shape, size, repr(alpha), repr(beta), repr(k)],
              {"x": x, "dy": dy}, ["y", "dx"])
    compare(name, got, {"y": y, "dx": xt.grad})


def crop_case(driver, name, shape, offset, size):
    x = rand(*shape)
    xt = t64(x, True)
    y = xt[(slice(None), slice(None)) + tuple(slice(o, o + s) for o, s in zip(offset, size))]
    dy = rand(*y.shape)
    y.backward(t64(dy))
    cfg = [len(shape), *shape]
    for o, s in zip(offset, size):
        cfg += [o, s]
    got = run(driver, "crop", cfg, {"x": x, "dy": dy}, ["y", "dx"])
    compare(name, got, {"y": y, "dx": xt.grad})


def prelu_case(driver, name, shape, slopes):
    x = rand(*shape)
    w = rand(slopes, lo=-0.5, hi=0.5)
    xt, wt = t64(x, True), t64(w, True)
    y = F.prelu(xt, wt)
    dy = rand(*y.shape)
    y.backward(t64(dy))
    got = run(driver, "prelu", [len(shape), *shape, slopes], {"x": x, "w": w, "dy": dy},
              ["y", "dx", "dw"])
    compare(name, got, {"y": y, "dx": xt.grad, "dw": wt.grad})


def softmax_case(driver, name, shape):
    x = rand(*shape, lo=-3, hi=3)
    xt = t64(x, True)
    y = torch.nn.Softmax(dim=1)(xt)
    dy = rand(*y.shape)
    y.backward(t64(dy))
    got = run(driver, "softmax", [len(shape), *shape], {"x": x, "dy": dy}, ["y", "dx"])
    compare(name, got, {"y": y, "dx": xt.grad})


def main():
    driver = sys.argv[1]
    conv_case(driver, "conv3d SSRN spectral k(7,1,1) s(2,1,1)", (2, 1, 20, 5, 5), 6, 1,
              (7, 1, 1), (2, 1, 1), (0, 0, 0), (0, 0, 0), (1, 1, 1), True)
    conv_case(driver, "conv3d g2 asym pad dil", (2, 4, 6, 5, 6), 6, 2,
              (3, 3, 2), (1, 2, 1), (1, 1, 0), (2, 0, 1), (2, 1, 2), True)
    conv_case(driver, "conv2d same pad k3", (3, 5, 7, 7), 8, 1,
              (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), True)
    conv_case(driver, "conv2d depthwise s2 no bias", (2, 4, 9, 8), 4, 4,
              (3, 2), (2, 2), (0, 1), (1, 0), (1, 1), False)
    conv_case(driver, "conv1d g3 dil2", (2, 6, 15), 9, 3,
              (4,), (3,), (2,), (1,), (2,), True)
    bn_case(driver, "bn3d train", (4, 3, 5, 3, 3), 1e-5, 0.1, False)
    bn_case(driver, "bn2d train + relu, momentum 0.01", (6, 5, 3, 3), 1e-3, 0.01, True)
    pool_case(driver, "maxpool2d k3 s2 pad 1/0", (2, 3, 7, 8), True,
              (3, 3), (2, 2), (1, 1), (0, 1), 1)
    pool_case(driver, "maxpool3d k(2,2,2) s(1,2,2)", (1, 2, 5, 6, 6), True,
              (2, 2, 2), (1, 2, 2), (0, 0, 0), (1, 0, 1), 1)
    pool_case(driver, "avgpool2d incl pad asym", (2, 3, 7, 7), False,
              (3, 3), (2, 2), (1, 0), (1, 2), 1)
    pool_case(driver, "avgpool2d excl pad", (2, 3, 7, 7), False,
              (3, 3), (2, 2), (1, 1), (1, 1), 0)
    pool_case(driver, "avgpool3d global", (3, 4, 2, 5, 5), False,
              (2, 5, 5), (1, 1, 1), (0, 0, 0), (0, 0, 0), 1)
    pool_case(driver, "maxpool2d ceil_mode k3 s2 pad 1", (2, 3, 8, 6), True,
              (3, 3), (2, 2), (1, 1), (1, 1), 1, ceil=True)
    pool_case(driver, "avgpool2d ceil_mode incl pad k3 s2 pad 1", (2, 3, 8, 6), False,
              (3, 3), (2, 2), (1, 1), (1, 1), 1, ceil=True)
    pool_case(driver, "avgpool2d ceil_mode excl pad k2 s2", (2, 3, 7, 5), False,
              (2, 2), (2, 2), (0, 0), (0, 0), 0, ceil=True)
    pool_case(driver, "avgpool3d ceil_mode incl pad k(3,2,3) s(2,2,3)", (1, 2, 6, 5, 7), False,
              (3, 2, 3), (2, 2, 3), (0, 0, 1), (0, 0, 1), 1, ceil=True)
    pool_case(driver, "maxpool1d ceil_mode k4 s3", (2, 3, 9), True,
              (4,), (3,), (0,), (0,), 1, ceil=True)
    dense_case(driver, "dense [4,3,2,5] -> 7", (4, 3, 2, 5), 7, True)
    dense_case(driver, "dense [3,10] -> 4, no bias", (3, 10), 4, False)
    act_case(driver, "leaky_relu 0.01 (PyTorch's default slope)", (3, 4, 5, 5), 1, 0.01)
    act_case(driver, "leaky_relu 0.2", (2, 6, 7), 1, 0.2)
    act_case(driver, "elu 0.5", (2, 6, 7), 2, 0.5)
    lrn_case(driver, "lrn 5 [N,C,H,W] (odd, PyTorch defaults)", (2, 9, 3, 4), 5, 1e-4, 0.75, 1.0)
    lrn_case(driver, "lrn 4 [N,C,D,H,W] (even)", (2, 7, 3, 2, 3), 4, 0.7, 0.6, 1.3)
    lrn_case(driver, "lrn 256 > C (Lee et al.)", (2, 20, 2, 2), 256, 0.5, 0.75, 2.0)
    lrn_case(driver, "lrn 1", (1, 3, 2, 2), 1, 0.4, 0.75, 1.0)
    crop_case(driver, "crop [N,C,H,W] window", (2, 3, 7, 6), (1, 2), (4, 3))
    crop_case(driver, "crop [N,C,D,H,W] centre", (2, 2, 5, 7, 7), (0, 2, 2), (5, 3, 3))
    prelu_case(driver, "prelu per channel [N,C,H,W]", (3, 4, 3, 3), 4)
    prelu_case(driver, "prelu shared [N,C,D,H,W]", (2, 3, 2, 3, 3), 1)
    prelu_case(driver, "prelu per feature [N,F]", (4, 6), 6)
    softmax_case(driver, "softmax [N,K]", (5, 7))
    softmax_case(driver, "softmax over channels [N,C,H,W]", (2, 4, 3, 5))
    permute_case(driver, "permute [C,L] -> [L,C]", (3, 4, 7), [1, 0])
    permute_case(driver, "permute [C,D,H,W] (2,0,3,1)", (2, 3, 4, 2, 5), [2, 0, 3, 1])
    rnn_case(driver, "gru sequence", 3, 2, 7, 5, False, False, True, True)
    rnn_case(driver, "gru reverse, last state", 2, 3, 6, 4, False, True, False, True)
    rnn_case(driver, "gru no bias, Mou-like (1 feature)", 2, 1, 9, 6, False, False, True, False)
    rnn_case(driver, "lstm sequence", 3, 2, 7, 5, True, False, True, True)
    rnn_case(driver, "lstm reverse sequence", 2, 3, 5, 4, True, True, True, True)
    rnn_case(driver, "lstm last state, no bias", 2, 4, 6, 3, True, False, False, False)
    print("FAIL" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
