"""Times PyTorch training steps of SSRN and the contextual CNN on random data, with a per-layer profile.

Prints one machine-readable line per measurement ("torch <net> <what> key=value ..."), then a
per-layer table (forward and backward ms per batch, from module hooks and marker autograd nodes).
It measures speed only: no data set, no accuracy. Run with /usr/bin/python3 (Debian's torch).
"""
import argparse
import os
import sys
import time
from collections import defaultdict

import torch
from torch import nn

import torch_models

NETS = {
    # net: (batch, classes, optimizer factory); inputs are [16, 1, bands, 7, 7], [128, bands, 5, 5]
    "ssrn": (16, 16,
             lambda p: torch.optim.RMSprop(p, lr=3e-4, alpha=0.9, eps=1e-8)),
    "contextual": (128, 8,
                   lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, weight_decay=5e-4)),
}


def build(net, args):
    if net == "ssrn":
        return torch_models.SSRN(bands=args.bands, classes=NETS[net][1], spectral=args.blocks,
                                 spatial=args.blocks, variant=args.variant)
    return torch_models.Contextual(bands=args.bands, classes=NETS[net][1], depth=args.depth)


def apply_mode(model, x, mode):
    """The model and input for --mode: eager as built; channels_last moves both to the
    channels-last memory format (channels_last_3d for SSRN's 5-D tensors); torchscript traces
    the model in training mode (BN batch statistics, dropout), so autograd runs through it."""
    if mode == "channels_last":
        fmt = torch.channels_last_3d if x.dim() == 5 else torch.channels_last
        return model.to(memory_format=fmt), x.contiguous(memory_format=fmt)
    if mode == "torchscript":
        model.train()
        traced = torch.jit.trace(model, x, check_trace=False)
        return traced, x
    return model, x


def timed_loop(body, warmup, seconds):
    """Runs body() warmup times, then until `seconds` have passed; returns (iterations, total s)."""
    for _ in range(warmup):
        body()
    n, t0 = 0, time.perf_counter()
    while True:
        body()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return n, elapsed


def measure(net, model, x, y, opt, args):
    batch = x.shape[0]
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def train_step():
        opt.zero_grad(set_to_none=False)
        loss_fn(model(x), y).backward()
        opt.step()

    n, s = timed_loop(train_step, args.warmup, args.seconds)
    print("torch %s train_step ms_per_batch=%.3f samples_per_s=%.1f batch=%d iters=%d threads=%d "
          "params=%d mode=%s" % (net, 1e3 * s / n, batch * n / s, batch, n, torch.get_num_threads(),
                                 torch_models.count_trainable(model), args.mode), flush=True)
    if args.train_only:
        return

    split = [0.0, 0.0]

    def fwd_bwd():
        opt.zero_grad(set_to_none=False)
        t0 = time.perf_counter()
        loss = loss_fn(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        split[0] += t1 - t0
        split[1] += time.perf_counter() - t1

    n, s = timed_loop(fwd_bwd, args.warmup, args.seconds)
    n_all = n + args.warmup
    fwd, bwd = 1e3 * split[0] / n_all, 1e3 * split[1] / n_all
    print("torch %s fwd_bwd fwd_ms=%.3f bwd_ms=%.3f samples_per_s=%.1f iters=%d"
          % (net, fwd, bwd, batch * n / s, n), flush=True)

    model.eval()

    def infer():
        with torch.no_grad():
            model(x)

    n, s = timed_loop(infer, args.warmup, args.seconds)
    print("torch %s infer ms_per_batch=%.3f samples_per_s=%.1f iters=%d"
          % (net, 1e3 * s / n, batch * n / s, n), flush=True)


# --- per-layer profile --------------------------------------------------------------------------

class _Mark(torch.autograd.Function):
    """Identity whose backward records (time, tag) in a log: the backward pass crossed this edge."""

    @staticmethod
    def forward(ctx, x, log, tag):
        ctx.log, ctx.tag = log, tag
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        ctx.log.append((time.perf_counter(), ctx.tag))
        return g, None, None


class LayerProfiler:
    """Hooks every leaf module: forward time from pre/post hooks; backward time from markers.

    Backward: a marker on a module's output fires when its backward starts ("start", name), a
    marker on its input when it ends ("end"). Time after a start is the module's until the next
    marker; time after an end (ReLU, add, concat, reshape, loss outside modules) is "(other)".
    """

    def __init__(self, model):
        self.fwd = defaultdict(float)
        self.bwd = defaultdict(float)
        self.log = []
        self._t0 = {}
        self.order = []
        for name, m in model.named_modules():
            if len(list(m.children())) == 0 and name:
                self.order.append(name)
                m.register_forward_pre_hook(self._pre(name))
                m.register_forward_hook(self._post(name))

    def _pre(self, name):
        def hook(module, inputs):
            self._t0[name] = time.perf_counter()
            return tuple(_Mark.apply(t, self.log, ("end", name)) if t.requires_grad else t
                         for t in inputs)
        return hook

    def _post(self, name):
        def hook(module, inputs, out):
            self.fwd[name] += time.perf_counter() - self._t0[name]
            return _Mark.apply(out, self.log, ("start", name))
        return hook

    def backward(self, loss):
        self.log.clear()
        t_begin = time.perf_counter()
        loss.backward()
        t_end = time.perf_counter()
        owner, t_prev = "(other)", t_begin
        for t, (kind, name) in self.log + [(t_end, ("end", "(other)"))]:
            self.bwd[owner] += t - t_prev
            owner = name if kind == "start" else "(other)"
            t_prev = t


def profile(net, model, x, y, opt, iters):
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    prof = LayerProfiler(model)
    total_fwd = 0.0
    for i in range(iters + 3):
        if i == 3:  # the first iterations warm up; clear what they recorded
            prof.fwd.clear()
            prof.bwd.clear()
            total_fwd = 0.0
        opt.zero_grad(set_to_none=False)
        t0 = time.perf_counter()
        loss = loss_fn(model(x), y)
        total_fwd += time.perf_counter() - t0
        prof.backward(loss)
        opt.step()
    fwd = {k: 1e3 * v / iters for k, v in prof.fwd.items()}
    fwd["(other)"] = 1e3 * total_fwd / iters - sum(fwd.values())
    bwd = {k: 1e3 * v / iters for k, v in prof.bwd.items()}
    tf, tb = sum(fwd.values()), sum(bwd.values())
    print("# per-layer profile, %s, batch %d, %d iterations (hooked, so slower than the loops above)"
          % (net, x.shape[0], iters))
    print("# %-34s %-28s %9s %6s %9s %6s" % ("layer", "module", "fwd_ms", "fwd%", "bwd_ms", "bwd%"))
    mods = dict(model.named_modules())
    rows = sorted(prof.order + ["(other)"], key=lambda k: -(fwd.get(k, 0) + bwd.get(k, 0)))
    for name in rows:
        f, b = fwd.get(name, 0.0), bwd.get(name, 0.0)
        kind = mods[name].__class__.__name__ if name in mods else "ReLU/add/cat/loss"
        if name in mods and hasattr(mods[name], "weight") and mods[name].weight is not None:
            kind += str(list(mods[name].weight.shape))
        print("torch %s layer %-34s %-28s fwd_ms=%7.3f %5.1f%% bwd_ms=%7.3f %5.1f%%"
              % (net, name, kind, f, 100 * f / tf, b, 100 * b / tb))
    print("torch %s layer_total fwd_ms=%.3f bwd_ms=%.3f" % (net, tf, tb), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", choices=["ssrn", "contextual", "both"], default="both")
    ap.add_argument("--bands", type=int, default=200)
    ap.add_argument("--blocks", type=int, default=2, help="SSRN residual blocks per section")
    ap.add_argument("--variant", choices=["paper", "released"], default="paper", help="SSRN variant")
    ap.add_argument("--depth", type=int, default=2, help="contextual residual modules")
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum timed seconds per loop")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile-iters", type=int, default=20, help="0 disables the layer profile")
    ap.add_argument("--mode", choices=["eager", "channels_last", "torchscript"], default="eager",
                    help="eager modules; channels_last (3d) memory format for the model and input; "
                         "torchscript: torch.jit.trace of the model in training mode")
    ap.add_argument("--train-only", action="store_true", help="only the train_step line")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print("# torch %s, threads %d, mkldnn %s, python %s, load average %.2f"
          % (torch.__version__, torch.get_num_threads(), torch.backends.mkldnn.is_available(),
             sys.version.split()[0], os.getloadavg()[0]))
    if os.getloadavg()[0] > 0.5:
        print("# WARNING: the machine is busy (load average above 0.5): OpenMP threads of "
              "concurrent processes collide and timings can be several times slower")
    for net in (["ssrn", "contextual"] if args.net == "both" else [args.net]):
        batch, classes, make_opt = NETS[net]
        shape = (1, args.bands, 7, 7) if net == "ssrn" else (args.bands, 5, 5)
        model = build(net, args)
        x = torch.randn(batch, *shape)
        y = torch.randint(0, classes, (batch,))
        model, x = apply_mode(model, x, args.mode)
        measure(net, model, x, y, make_opt(model.parameters()), args)
        if args.profile_iters > 0 and not args.train_only:   # hooks: the eager model, always
            model = build(net, args)
            profile(net, model, x, y, make_opt(model.parameters()), args.profile_iters)


if __name__ == "__main__":
    main()
