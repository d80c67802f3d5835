"""Salinas-A accuracy protocols in PyTorch (SSRN, contextual CNN): the reference for hsicc's trainer.

--protocol ssrn: 10 train + 10 val pixels per class, rest test, 7x7 patches, RMSprop (Keras
semantics), batch 16, keeps the epoch with the lowest validation loss. --protocol contextual:
200 train pixels per class, rest test, 5x5 patches, SGD with the paper-000 schedule and x8
dihedral augmentation. Prints OA / AA / kappa per seed and mean +- std; writes a JSON (atomic).
It does not tune anything, and it reads only Salinas-A.
"""
import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import scipy.io
import torch
from torch import nn

import torch_models

DATA = "/work/shared/data/SalinasA"
LABELS = [1, 10, 11, 12, 13, 14]  # Salinas class ids present in Salinas-A, mapped to 0..5


def load_salinas_a(data_dir):
    """Returns (cube [H, W, B] float32 standardised per band over all pixels, labels [H, W], -1 = none)."""
    cube_path = os.path.join(data_dir, "SalinasA_corrected.mat")
    gt_path = os.path.join(data_dir, "SalinasA_gt.mat")
    cube = scipy.io.loadmat(cube_path)["salinasA_corrected"].astype(np.float64)
    gt = scipy.io.loadmat(gt_path)["salinasA_gt"]
    if cube.shape[:2] != gt.shape:
        raise ValueError("%s %s and %s %s differ in size" % (cube_path, cube.shape, gt_path, gt.shape))
    return standardize(cube), remap(gt, LABELS)


def standardize(cube):
    """[H, W, B] -> float32, per band zero mean and unit variance over all pixels (in float64)."""
    flat = cube.reshape(-1, cube.shape[2]).astype(np.float64)
    std = flat.std(axis=0)
    flat = (flat - flat.mean(axis=0)) / np.where(std > 0, std, 1.0)  # sklearn.preprocessing.scale
    return flat.reshape(cube.shape).astype(np.float32)


def remap(gt, ids):
    """Raw gt ids -> 0..len(ids)-1 in the order given; everything else -1."""
    labels = np.full(gt.shape, -1, dtype=np.int64)
    for i, c in enumerate(ids):
        labels[gt == c] = i
    return labels


def patches(cube, pixels, patch):
    """[n, B, patch, patch] patches centred on pixels (row, col), zero padding outside the image."""
    m = patch // 2
    padded = np.pad(cube, ((m, m), (m, m), (0, 0)))
    out = np.empty((len(pixels), cube.shape[2], patch, patch), dtype=np.float32)
    for i, (r, c) in enumerate(pixels):
        out[i] = padded[r:r + patch, c:c + patch, :].transpose(2, 0, 1)
    return out


def split(labels, rng, counts):
    """Per class: shuffle, then take counts[0] pixels for the first set, counts[1] for the next...;
    the rest goes to the last set. Returns [(pixels [n, 2], y [n])] per set."""
    sets = [[] for _ in range(len(counts) + 1)]
    for c in range(len(LABELS)):
        px = np.argwhere(labels == c)
        px = px[rng.permutation(len(px))]
        ends = np.cumsum(counts)
        if ends[-1] >= len(px):
            raise ValueError("class %d has %d pixels, fewer than %d + 1" % (LABELS[c], len(px), ends[-1]))
        for s, part in enumerate(np.split(px, ends)):
            sets[s].append((part, np.full(len(part), c)))
    return [(np.concatenate([p for p, _ in s]), np.concatenate([y for _, y in s])) for s in sets]


def metrics(y, pred, classes):
    """OA, AA (mean per-class recall), Cohen's kappa, per-class recall."""
    cm = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    n = cm.sum()
    oa = np.trace(cm) / n
    recall = np.diag(cm) / np.maximum(cm.sum(axis=1), 1)
    pe = float((cm.sum(axis=0) * cm.sum(axis=1)).sum()) / float(n * n)
    return {"oa": float(oa), "aa": float(recall.mean()), "kappa": float((oa - pe) / (1 - pe)),
            "per_class": [float(r) for r in recall], "confusion": cm.tolist()}


def predict(model, x, batch=64):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def run_ssrn(cube, labels, seed, a):
    rng = np.random.RandomState(seed)
    torch.manual_seed(seed)
    (ptr, ytr), (pva, yva), (pte, yte) = split(labels, rng, [a.train_per_class, a.val_per_class])
    xtr, xva, xte = (torch.from_numpy(patches(cube, px, a.patch)).unsqueeze(1)  # [n, 1, B, p, p]
                     for px in (ptr, pva, pte))
    ytr_t, yva_t = torch.from_numpy(ytr), torch.from_numpy(yva)
    model = torch_models.SSRN(bands=cube.shape[2], classes=len(LABELS), patch=a.patch,
                              spectral=a.blocks, spatial=a.blocks, variant=a.variant)
    opt = torch.optim.RMSprop(model.parameters(), lr=a.lr, alpha=0.9, eps=1e-8)
    kernels = [m.weight for m in model.modules() if isinstance(m, nn.Conv3d)]
    loss_fn = nn.CrossEntropyLoss()
    best, best_loss, best_epoch, train_s, seen = None, float("inf"), -1, 0.0, 0
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.from_numpy(rng.permutation(len(xtr)))
        for i in range(0, len(order), a.batch):
            idx = order[i:i + a.batch]
            if len(idx) < 2:  # BN batch statistics need two samples
                continue
            loss = loss_fn(model(xtr[idx]), ytr_t[idx])
            if a.l2 > 0:  # Keras kernel_regularizer=l2(a.l2) on every Conv3D kernel
                loss = loss + a.l2 * sum((w * w).sum() for w in kernels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(idx)
        train_s += time.perf_counter() - t0
        val_loss = float(loss_fn(predict(model, xva), yva_t))
        if val_loss < best_loss:
            best, best_loss, best_epoch = copy.deepcopy(model.state_dict()), val_loss, epoch
    model.load_state_dict(best)
    res = metrics(yte, predict(model, xte).argmax(1).numpy(), len(LABELS))
    res.update(seed=seed, best_epoch=best_epoch, best_val_loss=best_loss, train_seconds=train_s,
               train_samples_per_s=seen / train_s, n_train=len(ytr), n_val=len(yva), n_test=len(yte))
    return res


def dihedral(x):
    """[n, B, p, p] -> [8, n, B, p, p]: k bit 0 transposes, bit 1 flips rows, bit 2 flips columns."""
    out = []
    for k in range(8):
        t = x.transpose(2, 3) if k & 1 else x
        t = t.flip(2) if k & 2 else t
        out.append(t.flip(3) if k & 4 else t)
    return torch.stack(out).contiguous()


def run_contextual(cube, labels, seed, a):
    rng = np.random.RandomState(seed)
    torch.manual_seed(seed)
    (ptr, ytr), (pte, yte) = split(labels, rng, [a.train_per_class])
    xtr = torch.from_numpy(patches(cube, ptr, 5))
    xte = torch.from_numpy(patches(cube, pte, 5))
    aug = dihedral(xtr) if a.augment else xtr.unsqueeze(0)  # [T, n, B, 5, 5]
    ytr_t = torch.from_numpy(ytr)
    model = torch_models.Contextual(bands=cube.shape[2], classes=len(LABELS), depth=a.depth)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=a.step, gamma=0.1)
    loss_fn = nn.CrossEntropyLoss()
    pool = np.empty(0, dtype=np.int64)
    model.train()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        if len(pool) < a.batch:  # one pass over the x8 augmented set, reshuffled every pass
            pool = np.concatenate([pool, rng.permutation(aug.shape[0] * aug.shape[1])])
        pick, pool = torch.from_numpy(pool[:a.batch]), pool[a.batch:]
        t, i = pick // aug.shape[1], pick % aug.shape[1]
        loss = loss_fn(model(aug[t, i]), ytr_t[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    train_s = time.perf_counter() - t0
    res = metrics(yte, predict(model, xte).argmax(1).numpy(), len(LABELS))
    res.update(seed=seed, final_train_loss=float(loss), train_seconds=train_s,
               train_samples_per_s=a.iters * a.batch / train_s, n_train=len(ytr), n_test=len(yte))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--protocol", choices=["ssrn", "contextual"], required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--out", help="result JSON (default torch_protocol_<protocol>.json)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=200, help="ssrn")
    ap.add_argument("--l2", type=float, default=1e-4,
                    help="ssrn: L2 on conv kernels, as the released Keras code (0 disables)")
    ap.add_argument("--blocks", type=int, default=2, help="ssrn residual blocks per section")
    ap.add_argument("--variant", choices=["paper", "released"], default="paper", help="ssrn")
    ap.add_argument("--patch", type=int, default=7, help="ssrn")
    ap.add_argument("--val-per-class", type=int, default=10, help="ssrn")
    ap.add_argument("--iters", type=int, default=5000, help="contextual")
    ap.add_argument("--step", type=int, default=4000, help="contextual: lr / 10 every STEP iters")
    ap.add_argument("--depth", type=int, default=2, help="contextual residual modules")
    ap.add_argument("--no-augment", dest="augment", action="store_false", help="contextual")
    ap.add_argument("--train-per-class", type=int, help="default 10 (ssrn), 200 (contextual)")
    ap.add_argument("--batch", type=int, help="default 16 (ssrn), 128 (contextual)")
    ap.add_argument("--lr", type=float, help="default 3e-4 (ssrn), 1e-3 (contextual)")
    a = ap.parse_args()
    ssrn = a.protocol == "ssrn"
    a.train_per_class = a.train_per_class or (10 if ssrn else 200)
    a.batch = a.batch or (16 if ssrn else 128)
    a.lr = a.lr or (3e-4 if ssrn else 1e-3)
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    try:
        cube, labels = load_salinas_a(a.data)
    except (OSError, KeyError, ValueError) as e:
        print("torch_protocol: error: cannot load Salinas-A from %s: %s" % (a.data, e))
        return 1
    runs = []
    for seed in a.seeds:
        r = (run_ssrn if ssrn else run_contextual)(cube, labels, seed, a)
        runs.append(r)
        print("torch %s seed=%d OA=%.4f AA=%.4f kappa=%.4f train_s=%.1f train_samples_per_s=%.1f%s"
              % (a.protocol, seed, r["oa"], r["aa"], r["kappa"], r["train_seconds"],
                 r["train_samples_per_s"],
                 " best_epoch=%d" % r["best_epoch"] if ssrn else ""), flush=True)
    summary = {}
    for k in ("oa", "aa", "kappa", "train_samples_per_s"):
        v = np.array([r[k] for r in runs])
        summary[k + "_mean"], summary[k + "_std"] = float(v.mean()), float(v.std())
    wall = time.perf_counter() - t_start
    print("torch %s summary seeds=%d OA=%.4f+-%.4f AA=%.4f+-%.4f kappa=%.4f+-%.4f wall_s=%.1f"
          % (a.protocol, len(runs), summary["oa_mean"], summary["oa_std"], summary["aa_mean"],
             summary["aa_std"], summary["kappa_mean"], summary["kappa_std"], wall))
    out = a.out or "torch_protocol_%s.json" % a.protocol
    doc = {"protocol": a.protocol, "dataset": "SalinasA", "classes": LABELS,
           "torch": torch.__version__, "threads": torch.get_num_threads(),
           "config": {k: v for k, v in vars(a).items() if k not in ("out", "data")},
           "std": "numpy std over seeds, ddof=0", "wall_seconds": wall,
           "summary": summary, "runs": runs}
    with open(out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(out + ".tmp", out)
    print("wrote %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
