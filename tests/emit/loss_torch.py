"""emit.loss_torch.*: the total loss of a multi-loss net and every parameter gradient, checked
against PyTorch (the same net written with torch.nn.functional, the same weights and batch).

loss_torch.py NET FILE.safetensors, where FILE was written by loss_torch.c for the emitted
netdef NET (tests/emit/fd_two_heads.hsn, fd_pixel.hsn or torch_layers.hsn). Checks the classification
logits, the loss (cross-entropy with label smoothing and ignored labels, mse, l1, their weights;
torch_layers: leaky ReLU, n-ary add, LRN, ceil_mode pools, crop, PReLU, softmax) and every gradient.
Exit status: 0 pass, 1 a mismatch (printed), 77 torch missing.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print("loss_torch: SKIP: %s (run with /usr/bin/python3)" % e)
    sys.exit(77)
from safetensors_np import read_st_meta  # noqa: E402


def bn(x, p, name):
    return F.batch_norm(x, None, None, p[name + ".weight"], p[name + ".bias"], training=True, eps=1e-5)


def conv(x, p, name, **kw):
    f = F.conv3d if p[name + ".weight"].dim() == 5 else F.conv2d
    return f(x, p[name + ".weight"], p[name + ".bias"], **kw)


def dense(x, p, name):
    return F.linear(x.flatten(1), p[name + ".weight"], p[name + ".bias"])


def two_heads(p, x, y):
    """tests/emit/fd_two_heads.hsn"""
    t = torch.tanh(bn(conv(x, p, "enc", padding=1), p, "enc_bn"))
    logits = dense(torch.sigmoid(conv(t, p, "c2")), p, "fc")
    rec = dense(torch.tanh(conv(t, p, "d1")), p, "dec")
    patch_rec = conv(t, p, "dec2")
    centre = x[:, :, x.shape[2] // 2, x.shape[3] // 2]
    loss = (F.cross_entropy(logits, y.long(), label_smoothing=0.1) + 0.7 * F.mse_loss(rec, centre)
            + 0.3 * F.l1_loss(patch_rec, x) + 0.5 * F.mse_loss(patch_rec, x))
    return logits, loss


def pixel(p, x, y):
    """tests/emit/fd_pixel.hsn"""
    n, _, bands, h, w = x.shape
    t = torch.tanh(conv(x, p, "c0", padding=1))
    f = t.reshape(n, -1, h, w)
    g = torch.tanh(bn(conv(f, p, "c1", padding=1), p, "b1"))
    m = conv(g, p, "c2")
    rec = dense(torch.sigmoid(conv(f, p, "r1")), p, "r2")
    loss = (2 * F.cross_entropy(m, y.long(), ignore_index=-1, label_smoothing=0.05)
            + 0.25 * F.l1_loss(rec, x[:, 0, :, h // 2, w // 2]))
    return m[:, :, m.shape[2] // 2, m.shape[3] // 2], loss


def ops(p, x, y):
    """tests/emit/torch_layers.hsn"""
    a = F.leaky_relu(conv(x, p, "c1", padding=1), 0.1)
    a = F.relu(a + torch.tanh(conv(a, p, "c2", padding=1)) + conv(a, p, "c3"))
    a = F.local_response_norm(a, 4, alpha=0.5, beta=0.75, k=1.5)
    a = F.max_pool2d(a, 3, 2, 1, ceil_mode=True)
    a = a[:, :, 1:5, 0:4]
    a = F.prelu(conv(a, p, "c4"), p["pr.weight"])
    a = F.local_response_norm(a, 3, alpha=0.3, beta=0.75, k=1.0)
    a = F.avg_pool2d(a, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    a = F.softmax(a, dim=1)
    a = F.prelu(conv(a, p, "c5"), p["pr1.weight"])
    logits = dense(a, p, "fc")   # the final softmax is the inference output: the loss reads logits
    return logits, F.cross_entropy(logits, y.long())


NETS = {"fd_two_heads": two_heads, "fd_pixel": pixel, "torch_layers": ops}


def close(what, a, b, rtol, atol):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    err = np.abs(a - b).max() if a.size else 0.0
    tol = atol + rtol * np.abs(b).max()
    ok = a.shape == b.shape and err <= tol
    print("  %-4s %-28s max |diff| %.3g (tolerance %.3g)" % ("ok" if ok else "FAIL", what, err, tol))
    return ok


def main(argv):
    if len(argv) != 2 or argv[0] not in NETS:
        print("usage: loss_torch.py %s FILE.safetensors" % "|".join(NETS))
        return 2
    t, meta = read_st_meta(argv[1])
    torch.set_default_dtype(torch.float64)
    p = {k[2:]: torch.tensor(v, dtype=torch.float64, requires_grad=True)
         for k, v in t.items() if k.startswith("p.")}
    x = torch.tensor(t["x"], dtype=torch.float64)
    y = torch.tensor(t["y"], dtype=torch.float64)
    logits, loss = NETS[argv[0]](p, x, y)
    loss.backward()
    ok = close("logits", t["logits"], logits.detach().numpy(), 1e-4, 1e-5)
    ok &= close("loss", float(meta["loss"]), loss.item(), 1e-5, 1e-6)
    grads = [k for k in t if k.startswith("g.")]
    ok &= len(grads) > 0 and all(("g." + k) in t for k, v in p.items() if v.grad is not None and
                                 not k.endswith(("running_mean", "running_var")))
    for k in sorted(grads):
        ok &= close(k, t[k], p[k[2:]].grad.numpy(), 1e-3, 1e-6)
    print("loss_torch %s: %s" % (argv[0], "PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
