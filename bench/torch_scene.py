#!/usr/bin/env python3
"""Whole-scene inference in PyTorch, the way a PyTorch toolbox maps a scene: every pixel's
p x p patch (zero padding) through the patch classifier in eval mode, batches of 128, with the
same weights and pixels that bench/scene_bench.c dumped (--dump DIR). Modes: eager,
channels_last and TorchScript (trace + freeze); prints seconds per scene and pixels/s per mode,
the best mode, and whether its argmax agrees with hsicc's scene program on every pixel.

    /usr/bin/python3 bench/torch_scene.py --net ssrn DIR [--batch 128] [--threads 2] [--runs 1]
"""
import argparse
import copy
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "tests", "torch"))
import st_io  # noqa: E402
import torch_models  # noqa: E402


def load_npy(path):
    return np.load(path)


def scene_logits(model, cube, patch, batch, mode, three_d):
    """cube: [h, w, bands] float32; returns logits [h * w, k]."""
    h, w, b = cube.shape
    half = patch // 2
    x = torch.from_numpy(np.ascontiguousarray(cube.transpose(2, 0, 1)))     # [b, h, w]
    xp = F.pad(x, (half, half, half, half))                                   # zero padding
    out = []
    with torch.no_grad():
        for r0 in range(0, h * w, batch):
            idx = torch.arange(r0, min(r0 + batch, h * w))
            rows, cols = idx // w, idx % w
            # [n, b, p, p] patches by gathering windows
            pr = rows[:, None] + torch.arange(patch)[None, :]                  # [n, p]
            pc = cols[:, None] + torch.arange(patch)[None, :]
            pt = xp[:, pr[:, :, None], pc[:, None, :]].permute(1, 0, 2, 3)    # [n, b, p, p]
            if three_d:
                pt = pt.unsqueeze(1)
            pt = pt.contiguous()
            if mode == "channels_last":
                pt = pt.contiguous(memory_format=torch.channels_last_3d if three_d
                                   else torch.channels_last)
            out.append(model(pt))
    return torch.cat(out).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--net", default="ssrn")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--modes", default="eager,channels_last,torchscript")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tensors, order = st_io.read(os.path.join(a.dir, "weights.safetensors"))
    cube = load_npy(os.path.join(a.dir, "scene.npy")).astype(np.float32)
    ref = load_npy(os.path.join(a.dir, "logits.npy"))
    h, w, bands = cube.shape
    classes = ref.shape[1]
    model = torch_models.build(a.net, bands=bands, classes=classes)
    torch_models.load_params(model, tensors, order)
    model.eval()
    patch = torch_models.input_shape(model)[-1]
    best = None
    for mode in a.modes.split(","):
        m = model
        three_d = isinstance(model, torch_models.SSRN)
        if mode == "channels_last":
            m = copy.deepcopy(model).to(memory_format=torch.channels_last_3d if three_d
                                        else torch.channels_last)
        if mode == "torchscript":
            ex = torch.zeros((a.batch,) + tuple(torch_models.input_shape(model)))
            with torch.no_grad():
                m = torch.jit.freeze(torch.jit.trace(model, ex).eval())
        times = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            z = scene_logits(m, cube, patch, a.batch, mode, three_d)
            times.append(time.perf_counter() - t0)
        t = min(times)
        agree = int((z.argmax(1) == ref.argmax(1)).sum())
        rel = float(np.abs(z - ref).max() / max(np.abs(ref).max(), 1e-6))
        print(f"torch {a.net} scene mode={mode} wall_s={t:.3f} px_per_s={h * w / t:.0f} batch={a.batch} "
              f"threads={a.threads} argmax_agree={agree}/{h * w} max_rel_diff={rel:.2e}", flush=True)
        if best is None or t < best[1]:
            best = (mode, t)
    print(f"torch {a.net} scene best mode={best[0]} wall_s={best[1]:.3f}")


if __name__ == "__main__":
    main()
