"""Self-test of the PyTorch oracle: the model is compared against itself through files.

For small SSRN (paper and released) and contextual nets it writes weights under hsicc-style names
(BN gamma/beta), an order file, a batch, logits and gradients, then checks that compare_logits
passes, and that it fails (exit 1, with a message) on a perturbed gradient or logit, swapped
tensors, a wrong band count and a truncated file. It does not test hsicc itself.
Exit 0 when every case behaves, 1 otherwise, 77 when torch/numpy are missing.
"""
import contextlib
import io
import os
import subprocess
import sys
import tempfile

import compare_logits  # exits 77 when torch/numpy are missing; puts bench/ on sys.path
import numpy as np
import st_io
import torch
import torch_models

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = [
    # (label, compare_logits net flags, batch)
    ("ssrn-paper", ["--net", "ssrn", "--bands", "24", "--classes", "5"], 4),
    ("ssrn-released-1+1", ["--net", "ssrn", "--bands", "21", "--classes", "3", "--variant",
                           "released", "--spectral", "1", "--spatial", "1", "--patch", "5"], 3),
    ("contextual", ["--net", "contextual", "--bands", "12", "--classes", "6", "--depth", "2"], 6),
]


def hsicc_name(key):
    """A stand-in for hsicc's naming: different from PyTorch's, BN affine named gamma/beta."""
    return "net." + key.replace(".bn.weight", ".bn.gamma").replace(".bn.bias", ".bn.beta")


def make_files(d, flags, batch, mode):
    """Writes weights/order/input/labels/logits/grads for one case; returns the path dict."""
    a = compare_logits.parse_args(flags + ["--weights", "-", "--input", "-", "--logits", "-"])
    model = compare_logits.build_model(a)
    with torch.no_grad():  # non-trivial BN state and affine parameters
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    items = [(hsicc_name(k), v) for k, v in torch_models.export_params(model)]
    model.train(mode == "train")
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    x = torch.randn((batch,) + torch_models.input_shape(model))
    y = torch.randint(0, a.classes, (batch,), dtype=torch.int32)
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y.long())
    loss.backward()
    keyed = dict(model.named_parameters())
    grads = [(hsicc_name(k), keyed[k].grad.numpy()) for k, _ in torch_models.export_params(model)
             if k in keyed]
    p = {n: os.path.join(d, n) for n in ("w.safetensors", "order.txt", "x.npy", "y.npy", "l.npy",
                                         "g.safetensors")}
    st_io.write(p["w.safetensors"], items[::-1])  # header order differs from the order file
    with open(p["order.txt"], "w") as f:
        f.write("\n".join(n for n, _ in items) + "\n")
    np.save(p["x.npy"], x.numpy())
    np.save(p["y.npy"], y.numpy())
    np.save(p["l.npy"], logits.detach().numpy())
    st_io.write(p["g.safetensors"], grads)
    p["loss"] = float(loss)
    p["names"] = [n for n, _ in items]
    p["grads"] = grads
    return p


def run_compare(argv):
    """compare_logits in-process; returns (exit status, printed text)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = compare_logits.main(argv)
    return status, out.getvalue()


def check(label, argv, want_status, want_text=None):
    status, text = run_compare(argv)
    good = status == want_status and (want_text is None or all(t in text for t in want_text))
    print("%s %s (exit %d, want %d)" % ("ok  " if good else "FAIL", label, status, want_status))
    if not good:
        print(text)
    return good


def run_case(d, label, flags, batch):
    ok = True
    for mode in ("train", "eval"):
        p = make_files(d, flags, batch, mode)
        base = flags + ["--weights", p["w.safetensors"], "--order", p["order.txt"], "--input",
                        p["x.npy"], "--labels", p["y.npy"], "--logits", p["l.npy"], "--mode", mode]
        full = base + ["--grads", p["g.safetensors"], "--loss", repr(p["loss"])]
        ok &= check("%s %s: itself" % (label, mode), full, 0, ["PASS"])
        if mode == "eval":
            ok &= check("%s eval logits under train mode" % label,
                        base[:-1] + ["train"], 1, ["FAIL"])
            continue
        # perturbed gradient: one element of the largest conv weight gradient
        name, g = max(p["grads"], key=lambda t: t[1].size)
        bad = [(n, a.copy()) for n, a in p["grads"]]
        arr = dict(bad)[name]
        arr.flat[0] += 1e-2 * float(np.abs(arr).max())
        st_io.write(os.path.join(d, "gbad.safetensors"), bad)
        ok &= check("%s: perturbed gradient" % label,
                    base + ["--grads", os.path.join(d, "gbad.safetensors")], 1,
                    ["FAIL grad %s" % name])
        logits = np.load(p["l.npy"])
        logits[0, 0] += 1e-2 * float(np.abs(logits).max())
        np.save(os.path.join(d, "lbad.npy"), logits)
        lbad = base[:]
        lbad[lbad.index(p["l.npy"])] = os.path.join(d, "lbad.npy")
        ok &= check("%s: perturbed logit" % label, lbad, 1, ["FAIL logits"])
        # swapped order entries: a conv weight with its bias (shapes differ)
        names = p["names"][:]
        names[0], names[1] = names[1], names[0]
        swapped = os.path.join(d, "order_swapped.txt")
        with open(swapped, "w") as f:
            f.write("\n".join(names) + "\n")
        sw = base[:]
        sw[sw.index(p["order.txt"])] = swapped
        ok &= check("%s: swapped weight/bias" % label, sw, 1,
                    ["hsicc '%s' has shape" % names[0], "PyTorch '%s' has shape" % names[1][4:]])
        # swapped BN running mean / var (same shape: caught by the role check)
        names = p["names"][:]
        i = names.index(next(n for n in names if n.endswith("running_mean")))
        names[i], names[i + 1] = names[i + 1], names[i]
        with open(swapped, "w") as f:
            f.write("\n".join(names) + "\n")
        ok &= check("%s: swapped running mean/var" % label, sw, 1, ["running_var", "BN"])
        wrong = base[:]
        wrong[wrong.index("--bands") + 1] = str(int(wrong[wrong.index("--bands") + 1]) + 9)
        ok &= check("%s: wrong band count" % label, wrong, 1, ["error"])
    return ok


def main():
    torch.manual_seed(1)
    ok = True
    with tempfile.TemporaryDirectory() as d:
        for label, flags, batch in CASES:
            ok &= run_case(d, label, flags, batch)
        p = make_files(d, CASES[0][1], CASES[0][2], "train")
        with open(p["w.safetensors"], "rb") as f:
            blob = f.read()
        trunc = os.path.join(d, "trunc.safetensors")
        with open(trunc, "wb") as f:
            f.write(blob[:len(blob) // 2])
        args = CASES[0][1] + ["--input", p["x.npy"], "--labels", p["y.npy"], "--logits", p["l.npy"]]
        ok &= check("truncated weights file", args + ["--weights", trunc], 1, ["data_offsets"])
        tensors, _ = st_io.read(p["w.safetensors"])
        st_io.write(p["w.safetensors"], [(n, tensors[n]) for n in p["names"]])
        ok &= check("header order, no --order file", args + ["--weights", p["w.safetensors"]], 0)
        # the exit status through a real process, as CTest sees it
        status = subprocess.call([sys.executable, os.path.join(HERE, "compare_logits.py")] + args
                                 + ["--weights", trunc], stdout=subprocess.DEVNULL)
        print("%s subprocess exit status %d (want 1)" % ("ok  " if status == 1 else "FAIL", status))
        ok &= status == 1
    print("selftest: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
