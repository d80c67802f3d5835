"""PyTorch twins of the two hsicc reference networks (SSRN, contextual CNN) for benchmarks and oracles.

Modules are registered in forward order so that hsicc's parameter list maps onto state_dict() by
position (load_params / export_params). This file builds models only; it does no training, no
data loading and no file I/O. Run it directly to check the parameter counts of
/work/shared/reference/architectures.md.
"""
import math

import numpy as np
import torch
from torch import nn

SSRN_BN_EPS = 1e-3      # Keras BatchNormalization default
SSRN_BN_MOMENTUM = 0.01  # torch momentum = 1 - Keras momentum (0.99)


def _he_normal(module):
    nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def _gaussian(module, std):
    nn.init.normal_(module.weight, 0.0, std)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def _ssrn_bn(ch):
    return nn.BatchNorm3d(ch, eps=SSRN_BN_EPS, momentum=SSRN_BN_MOMENTUM)


class BnRelu(nn.Module):
    """BN followed by ReLU (one parameterised layer: gamma, beta, running mean, running var)."""

    def __init__(self, ch):
        super().__init__()
        self.bn = _ssrn_bn(ch)

    def forward(self, x):
        return torch.relu(self.bn(x))


class SsrnBlock(nn.Module):
    """Pre-activation residual block: [BN ReLU] conv BN ReLU conv (+ shortcut).

    The first block of a section has no leading BN-ReLU (the layer before it ends with BN-ReLU).
    project=True adds the released code's 1x1x1 conv (with bias) on the shortcut.
    """

    def __init__(self, ch, kernel, pad, first, project):
        super().__init__()
        if not first:
            self.pre = BnRelu(ch)
        self.conv1 = nn.Conv3d(ch, ch, kernel, padding=pad)
        self.mid = BnRelu(ch)
        self.conv2 = nn.Conv3d(ch, ch, kernel, padding=pad)
        if project:
            self.proj = nn.Conv3d(ch, ch, 1)

    def forward(self, x):
        y = self.pre(x) if hasattr(self, "pre") else x
        y = self.conv2(self.mid(self.conv1(y)))
        return y + (self.proj(x) if hasattr(self, "proj") else x)


class SSRN(nn.Module):
    """SSRN, input [N, 1, bands, patch, patch] -> logits [N, classes].

    variant "paper": identity shortcuts, one closing BN-ReLU per section (the hsicc netdef).
    variant "released": zilongzhong/SSRN code: 1x1x1 projection on spatial shortcuts and a second
    closing BN-ReLU per section.
    """

    def __init__(self, bands=200, classes=16, k=24, spectral=2, spatial=2, patch=7,
                 variant="paper", c2_filters=128):
        super().__init__()
        if variant not in ("paper", "released"):
            raise ValueError("variant must be 'paper' or 'released', not %r" % variant)
        if bands < 7 or patch < 3 or spectral < 1 or spatial < 1:
            raise ValueError("SSRN needs bands >= 7, patch >= 3, spectral >= 1, spatial >= 1")
        released = variant == "released"
        self.bands, self.patch = bands, patch
        closing = 2 if released else 1
        depth = (bands - 7) // 2 + 1
        self.c1 = nn.Conv3d(1, k, (7, 1, 1), stride=(2, 1, 1))
        self.c1_act = BnRelu(k)
        self.spectral = nn.Sequential(*[
            SsrnBlock(k, (7, 1, 1), (3, 0, 0), first=(i == 0), project=False)
            for i in range(spectral)])
        self.spectral_close = nn.Sequential(*[BnRelu(k) for _ in range(closing)])
        self.c2 = nn.Conv3d(k, c2_filters, (depth, 1, 1))
        self.c2_act = BnRelu(c2_filters)
        self.c3 = nn.Conv3d(1, k, (c2_filters, 3, 3))
        self.c3_act = BnRelu(k)
        self.spatial = nn.Sequential(*[
            SsrnBlock(k, (1, 3, 3), (0, 1, 1), first=(i == 0), project=released)
            for i in range(spatial)])
        self.spatial_close = nn.Sequential(*[BnRelu(k) for _ in range(closing)])
        self.pool = nn.AvgPool3d((1, patch - 2, patch - 2))
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(k, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.Linear)):
                _he_normal(m)

    def forward(self, x):
        x = self.c1_act(self.c1(x))                       # [N, k, d, p, p]
        x = self.spectral_close(self.spectral(x))
        x = self.c2_act(self.c2(x))                       # [N, 128, 1, p, p]
        n, c, _, h, w = x.shape
        x = x.reshape(n, 1, c, h, w)                      # filters become the band axis
        x = self.c3_act(self.c3(x))                       # [N, k, 1, p-2, p-2]
        x = self.spatial_close(self.spatial(x))
        x = self.pool(x).flatten(1)                       # [N, k]
        return self.fc(self.dropout(x))


class ConvBn(nn.Module):
    """2-D conv followed by BN (PyTorch default eps/momentum); ReLU is applied by the caller."""

    def __init__(self, cin, cout, kernel, std):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel)
        _gaussian(self.conv, std)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class ContextualResidual(nn.Module):
    """conv1x1 BN ReLU conv1x1 BN, + identity, ReLU."""

    def __init__(self, ch, std):
        super().__init__()
        self.a = ConvBn(ch, ch, 1, std)
        self.b = ConvBn(ch, ch, 1, std)

    def forward(self, x):
        return torch.relu(x + self.b(torch.relu(self.a(x))))


class Contextual(nn.Module):
    """Lee & Kwon contextual CNN (paper-000 backbone with BN), input [N, bands, 5, 5] -> [N, classes]."""

    def __init__(self, bands=200, classes=8, depth=2, width=128, patch=5):
        super().__init__()
        if patch != 5:
            raise ValueError("the contextual CNN's filter bank is defined for 5x5 patches only")
        self.bank1 = ConvBn(bands, width, 1, 0.01)
        self.bank3 = ConvBn(bands, width, 3, 0.01)
        self.bank5 = ConvBn(bands, width, 5, 0.01)
        self.pool1 = nn.MaxPool2d(5)
        self.pool3 = nn.MaxPool2d(3)
        self.c2 = ConvBn(3 * width, width, 1, 0.01)
        self.res = nn.Sequential(*[ContextualResidual(width, 0.005) for _ in range(depth)])
        self.c7 = ConvBn(width, width, 1, 0.005)
        self.drop7 = nn.Dropout(0.5)
        self.c8 = ConvBn(width, width, 1, 0.005)
        self.drop8 = nn.Dropout(0.5)
        self.c9 = nn.Conv2d(width, classes, 1)
        _gaussian(self.c9, 0.01)

    def forward(self, x):
        b1 = self.pool1(torch.relu(self.bank1(x)))
        b3 = self.pool3(torch.relu(self.bank3(x)))
        b5 = torch.relu(self.bank5(x))
        x = torch.relu(self.c2(torch.cat([b1, b3, b5], 1)))  # [N, 128, 1, 1]
        x = self.res(x)
        x = self.drop7(torch.relu(self.c7(x)))
        x = self.drop8(torch.relu(self.c8(x)))
        return self.c9(x).flatten(1)


def build(net, **opts):
    """Build 'ssrn' or 'contextual' with keyword options (None values are dropped)."""
    opts = {k: v for k, v in opts.items() if v is not None}
    if net == "ssrn":
        return SSRN(**opts)
    if net == "contextual":
        return Contextual(**opts)
    raise ValueError("unknown net %r (ssrn | contextual)" % net)


def input_shape(model):
    """Per-sample input shape of a built model (a model that states it in `shape` first)."""
    if hasattr(model, "shape"):
        return tuple(model.shape)
    if isinstance(model, SSRN):
        return (1, model.bands, model.patch, model.patch)
    return (model.bank1.conv.in_channels, 5, 5)


def count_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- parameter exchange with hsicc ----------------------------------------------------------------

_ROLE_OF_SUFFIX = {"running_mean": "mean", "moving_mean": "mean", "mean": "mean",
                   "running_var": "var", "moving_var": "var", "var": "var",
                   "gamma": "gamma", "beta": "beta"}


def _torch_roles(model):
    """state_dict key -> role (weight, bias, gamma, beta, mean, var), skipping num_batches_tracked."""
    roles = {}
    for mname, m in model.named_modules():
        is_bn = isinstance(m, nn.modules.batchnorm._BatchNorm)
        local = list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False))
        for pname, _ in local:
            if pname == "num_batches_tracked":
                continue
            role = pname
            if is_bn:
                role = {"weight": "gamma", "bias": "beta", "running_mean": "mean",
                        "running_var": "var"}[pname]
            roles[(mname + "." if mname else "") + pname] = role
    return roles


def param_keys(model):
    """state_dict keys in registration (= forward) order, without num_batches_tracked."""
    return [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]


def load_params(model, tensors, order):
    """Copy hsicc's tensors (name -> array, taken in `order`) into model by position.

    Every tensor's shape must equal the state_dict entry at the same position. When the hsicc
    name's last component states a BN role (gamma, beta, mean, var, running_*), it must agree too:
    these all have shape [C], so a shape check alone would not catch a swap.
    Raises ValueError naming both tensors on any mismatch. Returns [(hsicc name, torch key)].
    """
    keys = param_keys(model)
    roles = _torch_roles(model)
    missing = [n for n in order if n not in tensors]
    if missing:
        raise ValueError("tensor %r is listed in the order but absent from the file" % missing[0])
    if len(order) != len(keys):
        raise ValueError("hsicc lists %d tensors, the PyTorch model has %d (parameters + BN running "
                         "statistics); check the net options (bands, classes, blocks, variant)"
                         % (len(order), len(keys)))
    sd = model.state_dict()
    pairs = []
    for i, (name, key) in enumerate(zip(order, keys)):
        arr = np.asarray(tensors[name])
        want = tuple(sd[key].shape)
        if tuple(arr.shape) != want:
            raise ValueError("tensor #%d: hsicc %r has shape %s but PyTorch %r has shape %s"
                             % (i, name, list(arr.shape), key, list(want)))
        stated = _ROLE_OF_SUFFIX.get(name.rsplit(".", 1)[-1])
        if stated is not None and stated != roles[key]:
            raise ValueError("tensor #%d: hsicc %r is a BN %s but PyTorch %r is a %s"
                             % (i, name, stated, key, roles[key]))
        pairs.append((name, key))
    with torch.no_grad():
        for name, key in pairs:
            sd[key].copy_(torch.from_numpy(np.ascontiguousarray(tensors[name], dtype=np.float32))
                          .reshape(sd[key].shape))
    return pairs


def export_params(model):
    """[(torch key, float32 array)] in state_dict (= forward) order, without num_batches_tracked."""
    sd = model.state_dict()
    return [(k, sd[k].detach().cpu().numpy().astype(np.float32)) for k in param_keys(model)]


def _check_counts():
    expected = [
        ("ssrn paper 2+2, B200 L16", SSRN(200, 16), 364168),
        ("ssrn released 2+2, B200 L16", SSRN(200, 16, variant="released"), 365464),
        ("ssrn released 1+1, B200 L16", SSRN(200, 16, spectral=1, spatial=1, variant="released"),
         346144),
        ("contextual depth 2, B200 L8", Contextual(200, 8, depth=2), 1048328),
        ("contextual depth 4, B200 L8", Contextual(200, 8, depth=4), 1115400),
    ]
    for label, model, want in expected:
        got = count_trainable(model)
        assert got == want, "%s: %d trainable parameters, expected %d" % (label, got, want)
        print("%-30s %9d trainable parameters (ok)" % (label, got))


if __name__ == "__main__":
    _check_counts()
    assert math.isfinite(float(SSRN()(torch.randn(2, 1, 200, 7, 7)).sum()))
    assert Contextual()(torch.randn(2, 200, 5, 5)).shape == (2, 8)
