"""solver_torch.py — replays test_train_solver --trace with torch.optim and compares every
weight after every step (float32; tolerance a few ulps per step). Caffe-style SGD is compared
only where it equals PyTorch's (constant lr). Exit 77 (CTest skip) without torch."""
import subprocess
import sys

try:
    import torch
except ImportError:
    print("torch not available: skipped")
    sys.exit(77)


def make_opt(kind, kv, p):
    f = lambda k: float(kv[k])
    if kind == "sgd":
        return torch.optim.SGD([p], lr=0.1, momentum=f("momentum"), nesterov=kv["nesterov"] == "1",
                               weight_decay=f("wd"))
    if kind == "rmsprop":
        return torch.optim.RMSprop([p], lr=0.1, alpha=f("rho"), eps=f("eps"), weight_decay=f("wd"))
    if kind == "adagrad":
        return torch.optim.Adagrad([p], lr=0.1, lr_decay=f("lr_decay"), eps=f("eps"),
                                   initial_accumulator_value=f("acc0"), weight_decay=f("wd"))
    if kind == "adadelta":
        return torch.optim.Adadelta([p], lr=0.1, rho=f("rho"), eps=f("eps"), weight_decay=f("wd"))
    betas = (f("beta1"), f("beta2"))
    if kind == "adam":
        return torch.optim.Adam([p], lr=0.1, betas=betas, eps=f("eps"), weight_decay=f("wd"))
    return torch.optim.AdamW([p], lr=0.1, betas=betas, eps=f("eps"), weight_decay=f("wd"))


def main():
    out = subprocess.run([sys.argv[1], "--trace"], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    i, bad, cases = 0, 0, 0
    while i < len(lines):
        head = lines[i].split()
        name, kind = head[1], head[2]
        kv = dict(x.split("=") for x in head[3:])
        init = [float(x) for x in lines[i + 1].split()[1:]]
        n = len(init)
        p = torch.tensor(init, dtype=torch.float32, requires_grad=True)
        opt = make_opt(kind, kv, p)
        i += 2
        worst = 0.0
        while i < len(lines) and lines[i].startswith("step"):
            v = [float(x) for x in lines[i].split()[1:]]
            lr, g, w = v[0], v[1:1 + n], v[1 + n:]
            for grp in opt.param_groups:
                grp["lr"] = lr
            p.grad = torch.tensor(g, dtype=torch.float32)
            opt.step()
            ref = p.detach()
            for a, b in zip(w, ref.tolist()):
                worst = max(worst, abs(a - b) / (abs(b) + 0.1))
            i += 1
        cases += 1
        ok = worst < 1e-5
        bad += not ok
        print(f"{name:24s} max diff / (|w| + 0.1) {worst:.3g} {'ok' if ok else 'FAIL'}")
    print(f"{cases} solver cases, {bad} failed")
    sys.exit(1 if bad or cases == 0 else 0)


main()
