"""PyTorch oracle: checks hsicc's logits and parameter gradients for one batch against PyTorch.

Loads hsicc's weights (safetensors, PyTorch layouts) by position into bench/torch_models.py (SSRN,
the contextual CNN) or tests/zoo/torch_zoo.py (the netdefs/zoo/ models, --net hu ... hybridsn),
runs the batch, and compares logits, the mean softmax cross-entropy and every gradient.
--mode train uses BN batch statistics with every Dropout module in eval mode (dropout OFF: the C
side must run with dropout disabled); --mode eval uses running statistics.
A tensor passes when max|hsicc - torch| <= atol + rtol * max|torch| (scaled by the tensor's
magnitude, since fp32 sums in a different order differ most where values are near zero).
Exit status: 0 all within tolerance, 1 mismatch or bad input, 2 usage, 77 torch/numpy missing.
"""
import argparse
import os
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    print("compare_logits: SKIP: %s (run with /usr/bin/python3, Debian python3-torch)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
sys.path.insert(0, os.path.join(HERE, "..", "zoo"))
import st_io  # noqa: E402
import torch_models  # noqa: E402
import torch_zoo  # noqa: E402


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", choices=["ssrn", "contextual"] + list(torch_zoo.MODELS), required=True)
    ap.add_argument("--bands", type=int, default=200)
    ap.add_argument("--classes", type=int, default=16)
    ap.add_argument("--patch", type=int, help="SSRN patch (default 7), a zoo model's (default its "
                    "own: torch_zoo.PATCH); contextual is 5 only")
    ap.add_argument("--k", type=int, help="SSRN kernels per layer (default 24)")
    ap.add_argument("--spectral", type=int, help="SSRN spectral blocks (default 2)")
    ap.add_argument("--spatial", type=int, help="SSRN spatial blocks (default 2)")
    ap.add_argument("--variant", choices=["paper", "released"], help="SSRN variant (default paper)")
    ap.add_argument("--depth", type=int, help="contextual residual modules (default 2)")
    ap.add_argument("--weights", required=True, help="hsicc parameters + BN statistics, F32")
    ap.add_argument("--order", help="text file, one hsicc name per line (default: header order)")
    ap.add_argument("--input", required=True, help="X.npy, [N, per-sample input shape]")
    ap.add_argument("--labels", help="Y.npy, int32 [N] (needed for --grads / --loss)")
    ap.add_argument("--logits", required=True, help="hsicc's logits, L.npy [N, classes]")
    ap.add_argument("--grads", help="hsicc's gradients (safetensors, same names as --weights)")
    ap.add_argument("--loss", type=float, help="hsicc's mean cross-entropy, to compare too")
    ap.add_argument("--mode", choices=["train", "eval"], default="train")
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--atol", type=float, default=1e-5)
    return ap.parse_args(argv)


def build_model(a):
    if a.net in torch_zoo.MODELS:
        return torch_zoo.build(a.net, bands=a.bands, classes=a.classes, patch=a.patch)
    if a.net == "ssrn":
        return torch_models.build("ssrn", bands=a.bands, classes=a.classes, patch=a.patch, k=a.k,
                                  spectral=a.spectral, spatial=a.spatial, variant=a.variant)
    return torch_models.build("contextual", bands=a.bands, classes=a.classes, depth=a.depth)


def read_order(path):
    with open(path) as f:
        names = [line.strip() for line in f]
    return [n for n in names if n]


def load_npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError("%s %s: %s" % (what, path, e)) from None


def compare(label, got, ref, rtol, atol):
    """Prints one line; returns True when within tolerance."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        print("FAIL %-40s shape hsicc %s, torch %s" % (label, list(got.shape), list(ref.shape)))
        return False
    err = float(np.max(np.abs(got - ref))) if got.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    ok = bool(np.all(np.isfinite(got))) and err <= atol + rtol * scale
    print("%s %-40s max_abs=%.3e max_rel=%.3e max|torch|=%.3e"
          % ("ok  " if ok else "FAIL", label, err, err / scale if scale > 0 else 0.0, scale))
    return ok


def run(a):
    torch.set_num_threads(2)
    tensors, header_order = st_io.read(a.weights)
    order = read_order(a.order) if a.order else header_order
    model = build_model(a)
    try:
        pairs = torch_models.load_params(model, tensors, order)
    except ValueError as e:
        raise ValueError("%s: %s" % (a.weights, e)) from None
    shape = torch_models.input_shape(model)
    x = load_npy(a.input, "input")
    if x.ndim < 1 or x.size != x.shape[0] * int(np.prod(shape)):
        raise ValueError("input %s has shape %s; expected [N, %s]"
                         % (a.input, list(x.shape), ", ".join(map(str, shape))))
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32).reshape((x.shape[0],) + shape))
    n = x.shape[0]
    if a.mode == "train":
        if n < 2:
            raise ValueError("train mode needs a batch of at least 2 (BN batch statistics)")
        model.train()
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.eval()
    else:
        model.eval()
    y = None
    if a.labels:
        y = load_npy(a.labels, "labels")
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError("labels %s: shape %s dtype %s; expected int32 [%d]"
                             % (a.labels, list(y.shape), y.dtype, n))
        if y.min() < 0 or y.max() >= a.classes:
            raise ValueError("labels %s: values must be in 0..%d, found %d..%d"
                             % (a.labels, a.classes - 1, y.min(), y.max()))
        y = torch.from_numpy(y.astype(np.int64))
    elif a.grads or a.loss is not None:
        raise ValueError("--grads and --loss need --labels")
    logits = model(x)
    ok = compare("logits", load_npy(a.logits, "logits"), logits.detach().numpy(), a.rtol, a.atol)
    if y is not None:
        loss = torch.nn.functional.cross_entropy(logits, y)
        print("     torch mean cross-entropy %.6f" % float(loss))
        if getattr(model, "aux_weight", None) is not None:   # a zoo model's reconstruction head
            rec = torch.nn.functional.mse_loss(model.aux, model.centre(x))
            loss = loss + model.aux_weight * rec
            print("     torch reconstruction MSE %.6f x %g, total %.6f"
                  % (float(rec), model.aux_weight, float(loss)))
        if a.loss is not None:
            ok &= compare("loss", np.array(a.loss), loss.detach().numpy(), a.rtol, a.atol)
        loss.backward()
    if a.grads:
        grads, _ = st_io.read(a.grads)
        key_of = dict(pairs)
        params = dict(model.named_parameters())
        unknown = [g for g in grads if g not in key_of]
        if unknown:
            raise ValueError("%s: gradient %r names no tensor of %s" % (a.grads, unknown[0], a.weights))
        for name, key in pairs:
            if key not in params:
                continue
            if name not in grads:
                print("note %-40s no hsicc gradient (frozen?)" % name)
                continue
            ok &= compare("grad %s (%s)" % (name, key), grads[name], params[key].grad.numpy(),
                          a.rtol, a.atol)
    return ok


def main(argv):
    a = parse_args(argv)
    try:
        ok = run(a)
    except (ValueError, OSError) as e:
        print("compare_logits: error: %s" % e)
        return 1
    print("compare_logits: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
