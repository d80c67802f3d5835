"""plateau_torch.py — replays test_train_schedule --plateau-trace with torch's ReduceLROnPlateau
fed the same metric sequences and compares the rate after every validation (exactly: both are
the same double arithmetic). Exit 77 (CTest skip) without torch."""
import subprocess
import sys

try:
    import torch
except ImportError:
    print("torch not available: skipped")
    sys.exit(77)


def main():
    out = subprocess.run([sys.argv[1], "--plateau-trace"], check=True, capture_output=True,
                         text=True).stdout
    cases, bad, cuts = 0, 0, 0
    sched = opt = None
    name = ""
    worst = 0
    lines = out.splitlines() + ["cfg end"]
    for line in lines:
        f = line.split()
        if f[0] == "cfg":
            if sched is not None:
                ok = worst == 0
                bad += not ok
                cases += 1
                print(f"{name:16s} {'ok' if ok else 'FAIL'}")
            if f[1] == "end":
                break
            name = f[1]
            kv = dict(x.split("=") for x in f[2:])
            p = torch.nn.Parameter(torch.zeros(1))
            opt = torch.optim.SGD([p], lr=float(kv["lr"]))
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode=kv["mode"], factor=float(kv["factor"]), patience=int(kv["patience"]),
                threshold=float(kv["threshold"]), threshold_mode=kv["threshold_mode"],
                cooldown=int(kv["cooldown"]), min_lr=float(kv["min_lr"]), eps=float(kv["eps"]))
            worst, last = 0, float(kv["lr"])
            continue
        metric, lr = float(f[1]), float(f[2])
        sched.step(metric)
        want = opt.param_groups[0]["lr"]
        cuts += want != last
        last = want
        if lr != want:
            worst += 1
            print(f"  {name}: metric {metric!r}: hsicc lr {lr!r}, torch {want!r}")
    print(f"{cases} plateau cases, {cuts} lr cuts, {bad} failed")
    sys.exit(1 if bad or cases == 0 or cuts < cases else 0)


main()
