"""PyTorch ports of the HSI CNN zoo shipped as netdefs in netdefs/zoo/ (the oracle of tests/zoo).

One class per model, written from the papers and the hyper-parameters the DeepHyperX toolbox's
`get_model` uses for Indian Pines (nshaud/DeepHyperX, models.py; HybridSN: its authors' Keras
model, gokriznastic/HybridSN). Modules are registered in the order hsicc lists the netdef's
parameters, so that hsicc's weights map onto state_dict() by position (load_params).

Every port takes the per-sample input the trainer feeds: [1, bands, patch, patch] for the 3-D
nets, [bands, patch, patch] for the 2-D ones, [bands] for the spectral (patch 1) ones; forward
returns the classification logits [N, classes]; the semi-supervised models (Liu, Boulch) also
keep their reconstruction in `self.aux` after each call, and their loss adds
`aux_weight * MSE(aux, centre(x))` (tests/torch/compare_logits.py does).

Run directly (/usr/bin/python3, torch 1.13) to assert every trainable parameter count at Indian
Pines shapes (200 bands, 16 classes, each model's own patch).
"""
import math
import sys

import torch
from torch import nn

# The figures of the issue (hsicc issue 12), computed by PyTorch at Indian Pines shapes.
INDIAN_PINES = {"bands": 200, "classes": 16}
EXPECTED = {
    "hu": 72196, "hamida": 45196, "lee": 390288, "chen": 1119856, "li": 115248, "he": 269024,
    "luo": 103846618, "sharma": 2635312, "liu": 4815256, "boulch": 6867, "mou": 243280,
    "hybridsn": 8255616,
}
# HybridSN on 30 PCA components (the paper's input)
HYBRIDSN_PCA30 = 5122176

# Each model's patch size (DeepHyperX get_model defaults; HybridSN 25 as in its paper for IP).
PATCH = {"hu": 1, "hamida": 5, "lee": 5, "chen": 27, "li": 5, "he": 7, "luo": 3, "sharma": 64,
         "liu": 9, "boulch": 1, "mou": 1, "hybridsn": 25}


def _size(module, shape):
    """Output shape (without batch) of module on a zero input of per-sample `shape`."""
    with torch.no_grad():                    # a batch of 2: BN in training mode needs it
        return tuple(module(torch.zeros((2,) + tuple(shape))).shape[1:])


class Hu(nn.Module):
    """Hu et al., Journal of Sensors 2015: conv1d (20 kernels of ceil(B/9)), maxpool
    ceil(k1/5), tanh, FC 100, tanh, FC classes, on the centre pixel's spectrum."""

    def __init__(self, bands, classes, patch=1):
        super().__init__()
        k1 = math.ceil(bands / 9)
        k2 = math.ceil(k1 / 5)
        self.shape = (bands,)
        self.conv = nn.Conv1d(1, 20, k1)
        self.pool = nn.MaxPool1d(k2)
        n = 20 * ((bands - k1 + 1) // k2)
        self.fc1 = nn.Linear(n, 100)
        self.fc2 = nn.Linear(100, classes)

    def forward(self, x):
        x = torch.tanh(self.pool(self.conv(x.reshape(x.shape[0], 1, -1))))
        return self.fc2(torch.tanh(self.fc1(x.flatten(1))))


class Hamida(nn.Module):
    """Ben Hamida et al., IEEE TGRS 2018: 3-D convs, strided spectral convs as pooling, FC."""

    def __init__(self, bands, classes, patch=5):
        super().__init__()
        self.shape = (1, bands, patch, patch)
        self.conv1 = nn.Conv3d(1, 20, 3, padding=1 if patch == 3 else 0)
        self.pool1 = nn.Conv3d(20, 20, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        self.conv2 = nn.Conv3d(20, 35, 3, padding=(1, 0, 0))
        self.pool2 = nn.Conv3d(35, 35, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        self.conv3 = nn.Conv3d(35, 35, (3, 1, 1), padding=(1, 0, 0))
        self.conv4 = nn.Conv3d(35, 35, (2, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        n = math.prod(_size(self.features, self.shape))
        self.fc = nn.Linear(n, classes)

    def features(self, x):
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.pool2(torch.relu(self.conv2(x)))
        return torch.relu(self.conv4(torch.relu(self.conv3(x))))

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


class Lee(nn.Module):
    """Lee & Kwon, IGARSS 2016 (contextual deep CNN): 1x1xB and 3x3xB inception, LRN, two
    residual modules of 1x1 convs, three 1x1 convs (AlexNet's FC layers); fully convolutional.
    DeepHyperX trains it on the whole label patch; the logits here are the centre pixel's."""

    def __init__(self, bands, classes, patch=5):
        super().__init__()
        self.shape = (1, bands, patch, patch)
        self.conv_3x3 = nn.Conv3d(1, 128, (bands, 3, 3), padding=(0, 1, 1))
        self.conv_1x1 = nn.Conv3d(1, 128, (bands, 1, 1))
        self.conv1 = nn.Conv2d(256, 128, 1)
        self.conv2 = nn.Conv2d(128, 128, 1)
        self.conv3 = nn.Conv2d(128, 128, 1)
        self.conv4 = nn.Conv2d(128, 128, 1)
        self.conv5 = nn.Conv2d(128, 128, 1)
        self.conv6 = nn.Conv2d(128, 128, 1)
        self.conv7 = nn.Conv2d(128, 128, 1)
        self.conv8 = nn.Conv2d(128, classes, 1)
        self.lrn1 = nn.LocalResponseNorm(256)
        self.lrn2 = nn.LocalResponseNorm(128)
        self.dropout = nn.Dropout(0.5)

    def logit_map(self, x):
        x = torch.cat([self.conv_3x3(x), self.conv_1x1(x)], 1).flatten(1, 2)
        x = self.conv1(torch.relu(self.lrn1(x)))
        x = torch.relu(self.lrn2(x))
        x = torch.relu(x + self.conv3(torch.relu(self.conv2(x))))
        x = torch.relu(x + self.conv5(torch.relu(self.conv4(x))))
        x = self.dropout(torch.relu(self.conv6(x)))
        x = self.dropout(torch.relu(self.conv7(x)))
        return self.conv8(x)

    def forward(self, x):
        m = self.logit_map(x)
        return m[:, :, m.shape[2] // 2, m.shape[3] // 2]


class Chen(nn.Module):
    """Chen et al., IEEE TGRS 2016: three 3-D convs (32 kernels of 32x4x4), 1x2x2 max pools,
    dropout, FC."""

    def __init__(self, bands, classes, patch=27, planes=32):
        super().__init__()
        self.shape = (1, bands, patch, patch)
        self.conv1 = nn.Conv3d(1, planes, (32, 4, 4))
        self.conv2 = nn.Conv3d(planes, planes, (32, 4, 4))
        self.conv3 = nn.Conv3d(planes, planes, (32, 4, 4))
        self.pool = nn.MaxPool3d((1, 2, 2))
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(math.prod(_size(self.features, self.shape)), classes)

    def features(self, x):
        x = self.dropout(self.pool(torch.relu(self.conv1(x))))
        x = self.dropout(self.pool(torch.relu(self.conv2(x))))
        return self.dropout(torch.relu(self.conv3(x)))

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


class Li(nn.Module):
    """Li, Zhang & Shen, Remote Sensing 2017: two 3-D convs (7x3x3 then 3x3x3, twice the
    kernels), FC; DeepHyperX uses 16 kernels in C1."""

    def __init__(self, bands, classes, patch=5, planes=16):
        super().__init__()
        self.shape = (1, bands, patch, patch)
        self.conv1 = nn.Conv3d(1, planes, (7, 3, 3), padding=(1, 0, 0))
        self.conv2 = nn.Conv3d(planes, 2 * planes, 3, padding=(1, 0, 0))
        self.fc = nn.Linear(math.prod(_size(self.features, self.shape)), classes)

    def features(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


class He(nn.Module):
    """He, Li & Chen, ICIP 2017 (multi-scale 3-D CNN): a strided 11x3x3 conv, two multi-scale
    blocks (1, 3, 5, 11 spectral kernels summed), a 3x2x2 conv, dropout 0.6, FC. (DeepHyperX
    declares a max pool it never applies; so does this port.)"""

    def __init__(self, bands, classes, patch=7):
        super().__init__()
        self.shape = (1, bands, patch, patch)
        self.conv1 = nn.Conv3d(1, 16, (11, 3, 3), stride=(3, 1, 1))
        self.block2 = nn.ModuleList(nn.Conv3d(16, 16, (k, 1, 1), padding=(k // 2, 0, 0))
                                    for k in (1, 3, 5, 11))
        self.block3 = nn.ModuleList(nn.Conv3d(16, 16, (k, 1, 1), padding=(k // 2, 0, 0))
                                    for k in (1, 3, 5, 11))
        self.conv4 = nn.Conv3d(16, 16, (3, 2, 2))
        self.dropout = nn.Dropout(0.6)
        self.fc = nn.Linear(math.prod(_size(self.features, self.shape)), classes)

    def features(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(sum(c(x) for c in self.block2))
        x = torch.relu(sum(c(x) for c in self.block3))
        return torch.relu(self.conv4(x))

    def forward(self, x):
        return self.fc(self.dropout(self.features(x).flatten(1)))


class Luo(nn.Module):
    """Luo et al., ICPR 2018 (HSI-CNN): a 24x3x3 conv with spectral stride 9 over the 3x3
    neighbourhood, its [90, D] output read row-major as a [D, 90] image, a 3x3 conv (64), FC
    1024, FC."""

    def __init__(self, bands, classes, patch=3, planes=90):
        super().__init__()
        self.shape = (1, bands, patch, patch)
        self.planes = planes
        self.conv1 = nn.Conv3d(1, planes, (24, 3, 3), stride=(9, 1, 1))
        self.conv2 = nn.Conv2d(1, 64, 3)
        self.fc1 = nn.Linear(math.prod(_size(self.features, self.shape)), 1024)
        self.fc2 = nn.Linear(1024, classes)

    def features(self, x):
        x = torch.relu(self.conv1(x))
        return torch.relu(self.conv2(x.reshape(x.shape[0], 1, -1, self.planes)))

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(self.features(x).flatten(1))))


class Sharma(nn.Module):
    """Sharma et al., KU Leuven / ETH tech. report 2016 (S-CNN): three 3-D convs each spanning
    every input plane (the previous layer's kernels restacked as the spectral axis), BN, max
    pools, FC 1024, dropout, FC."""

    def __init__(self, bands, classes, patch=64):
        super().__init__()
        self.shape = (1, bands, patch, patch)
        self.conv1 = nn.Conv3d(1, 96, (bands, 6, 6), stride=(1, 2, 2))
        self.conv1_bn = nn.BatchNorm3d(96)
        self.conv2 = nn.Conv3d(1, 256, (96, 3, 3), stride=(1, 2, 2))
        self.conv2_bn = nn.BatchNorm3d(256)
        self.conv3 = nn.Conv3d(1, 512, (256, 3, 3))
        self.pool = nn.MaxPool3d((1, 2, 2))
        self.fc1 = nn.Linear(math.prod(_size(self.features, self.shape)), 1024)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(1024, classes)

    def features(self, x):
        x = self.pool(torch.relu(self.conv1_bn(self.conv1(x)))).transpose(1, 2)
        x = self.pool(torch.relu(self.conv2_bn(self.conv2(x)))).transpose(1, 2)
        return torch.relu(self.conv3(x))

    def forward(self, x):
        return self.fc2(self.dropout(self.fc1(self.features(x).flatten(1))))


class Liu(nn.Module):
    """Liu et al., Remote Sensing Letters 2017 (semi-supervised CNN): 3x3 conv (80), BN, 2x2
    max pool, ReLU, FC to the classes; a ladder-like decoder (FC, + pooled map, BN, ReLU; FC,
    + conv map, BN, ReLU; FC to the bands) reconstructs the centre spectrum (`self.aux`).
    DeepHyperX declares fc1_dec_bn and never applies it; its commented-out line (BN after the
    first decoder FC plus the code) is what this port does, so every declared parameter is used."""

    def __init__(self, bands, classes, patch=9):
        super().__init__()
        self.shape = (bands, patch, patch)
        self.conv1 = nn.Conv2d(bands, 80, 3)
        self.conv1_bn = nn.BatchNorm2d(80)
        self.pool1 = nn.MaxPool2d(2)
        s0 = 80 * (patch - 2) ** 2
        s1 = 80 * ((patch - 2) // 2) ** 2
        self.fc_enc = nn.Linear(s1, classes)
        self.fc1_dec = nn.Linear(s1, s1)
        self.fc1_dec_bn = nn.BatchNorm1d(s1)
        self.fc2_dec = nn.Linear(s1, s1)
        self.fc2_dec_bn = nn.BatchNorm1d(s1)
        self.fc3_dec = nn.Linear(s1, s0)
        self.fc3_dec_bn = nn.BatchNorm1d(s0)
        self.fc4_dec = nn.Linear(s0, bands)
        self.aux = None
        self.aux_weight = 1.0       # DeepHyperX's aux_loss_weight: loss = CE + 1.0 * MSE

    @staticmethod
    def centre(x):
        """The reconstruction target: the centre pixel's spectrum [N, bands]."""
        return x[:, :, x.shape[2] // 2, x.shape[3] // 2]

    def forward(self, x):
        c = self.conv1_bn(self.conv1(x))
        p = self.pool1(c)
        enc = torch.relu(p).flatten(1)
        logits = self.fc_enc(enc)
        y = torch.relu(self.fc1_dec_bn(self.fc1_dec(enc) + enc))
        y = torch.relu(self.fc2_dec_bn(self.fc2_dec(y) + p.flatten(1)))
        y = torch.relu(self.fc3_dec_bn(self.fc3_dec(y) + c.flatten(1)))
        self.aux = self.fc4_dec(y)
        return logits


class Boulch(nn.Module):
    """Boulch, Audebert & Dubucq, GRETSI 2017 (spectral autoencoder): conv1d (3, pad 1), max pool
    2, ReLU, BN while the length exceeds 1 (32 planes, then 16), conv1d to 3, tanh; a classifier
    and a regressor (the spectrum, `self.aux`) on the 3 features."""

    def __init__(self, bands, classes, patch=1, planes=16):
        super().__init__()
        self.shape = (bands,)
        layers, n, cin = [], bands, 1
        while n > 1:
            cout = 2 * planes if n == bands else planes
            layers += [nn.Conv1d(cin, cout, 3, padding=1), nn.MaxPool1d(2), nn.ReLU(),
                       nn.BatchNorm1d(cout)]
            cin, n = cout, n // 2
        layers += [nn.Conv1d(planes, 3, 3, padding=1), nn.Tanh()]
        self.encoder = nn.Sequential(*layers)
        n = math.prod(_size(self.encoder, (1, bands)))
        self.classifier = nn.Linear(n, classes)
        self.regressor = nn.Linear(n, bands)
        self.aux = None
        self.aux_weight = 0.1       # DeepHyperX's aux_loss_weight: loss = CE + 0.1 * MSE

    @staticmethod
    def centre(x):
        """The reconstruction target: the spectrum itself [N, bands]."""
        return x.reshape(x.shape[0], -1)

    def forward(self, x):
        z = self.encoder(x.reshape(x.shape[0], 1, -1)).flatten(1)
        self.aux = self.regressor(z)
        return self.classifier(z)


class Mou(nn.Module):
    """Mou, Ghamisi & Zhu, IEEE TGRS 2017 (deep RNN): a GRU of 64 units over the bands (one
    value per step), every step's state, BN over the 64*B features, tanh, FC."""

    def __init__(self, bands, classes, patch=1, hidden=64):
        super().__init__()
        self.shape = (bands,)
        self.gru = nn.GRU(1, hidden, 1)
        self.gru_bn = nn.BatchNorm1d(hidden * bands)
        self.fc = nn.Linear(hidden * bands, classes)

    def forward(self, x):
        seq = x.reshape(x.shape[0], -1).t().unsqueeze(2)      # [B, N, 1]
        h = self.gru(seq)[0].permute(1, 2, 0)                  # [N, 64, B]
        return self.fc(torch.tanh(self.gru_bn(h.flatten(1))))


class HybridSN(nn.Module):
    """Roy et al., IEEE GRSL 2020 (HybridSN), the authors' Keras model channels-first: 3-D convs
    7x3x3 (8), 5x3x3 (16), 3x3x3 (32), the 32 x D maps restacked as channels, 3x3 conv2d (64),
    FC 256, dropout 0.4, FC 128, dropout 0.4, FC. The paper feeds 30 PCA components."""

    def __init__(self, bands, classes, patch=25):
        super().__init__()
        self.shape = (1, bands, patch, patch)
        self.conv1 = nn.Conv3d(1, 8, (7, 3, 3))
        self.conv2 = nn.Conv3d(8, 16, (5, 3, 3))
        self.conv3 = nn.Conv3d(16, 32, (3, 3, 3))
        self.conv4 = nn.Conv2d(32 * (bands - 12), 64, 3)
        self.fc1 = nn.Linear(64 * (patch - 8) ** 2, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, classes)
        self.dropout = nn.Dropout(0.4)

    def forward(self, x):
        x = torch.relu(self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x))))))
        x = torch.relu(self.conv4(x.flatten(1, 2))).flatten(1)
        x = self.dropout(torch.relu(self.fc1(x)))
        return self.fc3(self.dropout(torch.relu(self.fc2(x))))


MODELS = {"hu": Hu, "hamida": Hamida, "lee": Lee, "chen": Chen, "li": Li, "he": He, "luo": Luo,
          "sharma": Sharma, "liu": Liu, "boulch": Boulch, "mou": Mou, "hybridsn": HybridSN}


def build(name, bands=200, classes=16, patch=None):
    if name not in MODELS:
        raise ValueError("unknown model %r (%s)" % (name, " | ".join(MODELS)))
    return MODELS[name](bands, classes, PATCH[name] if patch is None else patch)


def count_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_counts():
    ok = True
    for name, want in EXPECTED.items():
        got = count_trainable(build(name, **INDIAN_PINES))
        ok &= got == want
        print("%-9s patch %2d  %11s trainable parameters  %s"
              % (name, PATCH[name], format(got, ","), "ok" if got == want else
                 "FAIL: expected %s" % format(want, ",")))
    got = count_trainable(HybridSN(30, 16, 25))
    ok &= got == HYBRIDSN_PCA30
    print("hybridsn at 30 PCA components: %s %s" % (format(got, ","), "ok" if got == HYBRIDSN_PCA30
                                                      else "FAIL: expected %s" % HYBRIDSN_PCA30))
    return ok


def _check_forward():
    """Every port runs on a small batch and gives [N, classes] (Luo and Sharma skipped: size)."""
    torch.manual_seed(0)
    for name in MODELS:
        if name in ("luo", "sharma"):
            continue
        m = build(name, **INDIAN_PINES).eval()
        y = m(torch.randn((2,) + m.shape))
        assert tuple(y.shape) == (2, 16), (name, tuple(y.shape))
        assert bool(torch.isfinite(y).all()), name


if __name__ == "__main__":
    torch.set_num_threads(2)
    good = check_counts()
    _check_forward()
    sys.exit(0 if good else 1)
