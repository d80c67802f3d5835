#!/usr/bin/python3
"""torch.seq_nets: spectral nets with conv1d, permute/transpose, GRU and LSTM, end to end
against PyTorch: a trainer built by `hsicc build` (Salinas-A resampled to BANDS bands, 6
classes) against the PyTorch modules written as DeepHyperX writes them.

For each net: `TRAINER init` (the seeded initial weights: the GRU/LSTM tensors must lie in
PyTorch's default uniform(-1/sqrt(H), 1/sqrt(H)) and fill it), BN statistics and biases
perturbed, then `TRAINER forward` (inference) and `TRAINER grad` (training mode: batch
statistics, the loss and every parameter's gradient) on a random batch, both backends, and the
same weights loaded into the PyTorch module by position (the names must match PyTorch's
state_dict suffixes: weight_ih_l0, bias_hh_l1_reverse...). A tensor passes when
max |hsicc - torch| <= atol + rtol * max |torch|.
Usage: seq_nets_check.py HSICC WORKDIR. Exit 0 pass, 1 fail, 77 torch/numpy missing.
"""
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError as e:
    print("seq_nets_check: SKIP: %s (run with /usr/bin/python3)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402

HSICC, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
BANDS, CLASSES, N = 24, 6, 8
torch.set_num_threads(1)
failures = []


class MouEtAl(nn.Module):
    """Mou et al. (2017) as in DeepHyperX (models.py, MouEtAl)."""

    def __init__(self, input_channels, n_classes):
        super().__init__()
        self.input_channels = input_channels
        self.gru = nn.GRU(1, 64, 1, bidirectional=False)
        self.gru_bn = nn.BatchNorm1d(64 * input_channels)
        self.tanh = nn.Tanh()
        self.fc = nn.Linear(64 * input_channels, n_classes)

    def forward(self, x):
        x = x.squeeze()
        x = x.unsqueeze(0)
        x = x.permute(2, 1, 0)          # [bands, N, 1]
        x = self.gru(x)[0]
        x = x.permute(1, 2, 0).contiguous()
        x = x.contiguous().view(x.size(0), -1)
        x = self.gru_bn(x)
        x = self.tanh(x)
        return self.fc(x)


MOU = """net mou(bands = 200, classes = 16) {
  input [1, bands]
  gru(64)
  flatten bn tanh dense(classes)
  loss softmax_cross_entropy
}
"""


class ConvLstm(nn.Module):
    """conv1d, BN, max pooling over the spectrum, then a 2-layer bidirectional LSTM reading the
    conv's channels per step; its last states (forward, reverse) to a linear layer."""

    def __init__(self, bands, n_classes):
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 5, stride=2, padding=1)
        self.bn = nn.BatchNorm1d(8)
        self.pool = nn.MaxPool1d(2)
        self.lstm = nn.LSTM(8, 6, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(12, n_classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv(x))))   # [N, 8, L]
        x = x.transpose(1, 2).permute(0, 2, 1)             # the netdef's identity pair
        _, (h, _) = self.lstm(x.permute(2, 0, 1))          # [L, N, 8]
        return self.fc(torch.cat([h[-2], h[-1]], 1))


CONV_LSTM = """net conv_lstm(bands = 200, classes = 16) {
  input [1, bands]
  conv1d(8, 5, stride = 2, pad = 1) bn relu maxpool(2)
  transpose(0, 1) permute([1, 0])
  lstm(6, num_layers = 2, bidirectional = true, sequence = false)
  dense(classes)
  loss softmax_cross_entropy
}
"""


class GruSeq(nn.Module):
    """A reversed sequence read as 4 features per step by a bidirectional GRU without bias,
    every hidden state flattened."""

    def __init__(self, bands, n_classes):
        super().__init__()
        self.steps = bands // 4
        self.gru = nn.GRU(4, 5, bidirectional=True, bias=False)
        self.fc = nn.Linear(10 * (bands // 4), n_classes)

    def forward(self, x):
        x = x.reshape(x.shape[0], self.steps, 4).transpose(1, 2)   # [N, 4, L]
        out, _ = self.gru(x.permute(2, 0, 1))                          # [L, N, 10]
        return self.fc(torch.tanh(out.permute(1, 2, 0)).flatten(1))


GRU_SEQ = """net gru_seq(bands = 200, classes = 16) {
  input [1, bands]
  reshape [bands / 4, 4] transpose(0, 1)
  gru(5, bidirectional = true, bias = false) tanh
  dense(classes)
  loss softmax_cross_entropy
}
"""

NETS = [("mou", MOU, MouEtAl, [64]), ("conv_lstm", CONV_LSTM, ConvLstm, [6]),
        ("gru_seq", GRU_SEQ, GruSeq, [5])]


def run(*args):
    print("$ " + " ".join(args), flush=True)
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        raise RuntimeError("exit status %d:\n%s" % (p.returncode, p.stdout))
    return p.stdout


def compare(label, got, ref, rtol, atol):
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        failures.append(label)
        print("FAIL %-44s shape %s vs torch %s" % (label, got.shape, ref.shape))
        return
    err, scale = float(np.max(np.abs(got - ref))), float(np.max(np.abs(ref)))
    ok = err <= atol + rtol * scale
    if not ok:
        failures.append(label)
    print("%s %-44s max err %.3g (max |torch| %.3g)" % ("ok  " if ok else "FAIL", label, err, scale))


def check(name, text, module, hiddens):
    work = os.path.join(WORK, name)
    os.makedirs(work)
    netdef = os.path.join(work, name + ".hsn")
    with open(netdef, "w") as f:
        f.write(text)
    exp = os.path.join(work, "x.yaml")
    with open(exp, "w") as f:
        f.write("name: %s\nnet: %s\ndomains:\n  - name: a\n    dataset: SalinasA\n"
                "    labels: [1, 10, 11, 12, 13, 14]\n    bands: {resample: %d}\n"
                "split: {train: 3}\nsolver: {type: sgd, lr: 0.01}\ntrain: {batch: 8, iterations: 2}\n"
                % (name, netdef, BANDS))
    tr = os.path.join(work, "trainer")
    run(HSICC, "build", exp, "-o", tr)
    w0 = os.path.join(work, "init.safetensors")
    run(tr, "init", "--out", w0)
    tensors, order = st_io.read(w0)
    # PyTorch's default init of the recurrent tensors: uniform(-1/sqrt(H), 1/sqrt(H))
    rec = [n for n in order if "_ih_l" in n or "_hh_l" in n]
    bound = 1 / np.sqrt(hiddens[0])
    top = max(float(np.abs(tensors[n]).max()) for n in rec)
    big = max(t.size for t in (tensors[n] for n in rec))
    if not rec or top > bound * (1 + 1e-6) or (big >= 100 and top < 0.9 * bound):
        failures.append(name + " init")
        print("FAIL %s: recurrent tensors %s span %.4g, want uniform(+-%.4g)" % (name, rec, top, bound))
    rng = np.random.default_rng(5)
    out = []
    for n in order:
        t = tensors[n].astype(np.float64)
        if n.endswith("running_var"):
            t = t * np.exp(rng.uniform(-0.5, 0.5, t.shape))
        elif n.endswith("running_mean"):
            t = t + 0.2 * rng.standard_normal(t.shape)
        elif n.endswith(".bias") and not n.startswith("dense"):
            t = t + 0.1 * rng.standard_normal(t.shape)
        out.append((n, t.astype(np.float32)))
    w = os.path.join(work, "w.safetensors")
    st_io.write(w, out, {"format": "pt"})
    x = rng.standard_normal([N, 1, BANDS]).astype(np.float32)
    y = rng.integers(0, CLASSES, N).astype(np.int32)
    np.save(os.path.join(work, "x.npy"), x)
    np.save(os.path.join(work, "y.npy"), y)

    torch.manual_seed(0)
    m = module(BANDS, CLASSES).double()
    sd = m.state_dict()
    keys = [k for k in sd if not k.endswith("num_batches_tracked")]
    if len(keys) != len(out):
        failures.append(name + " parameters")
        print("FAIL %s: %d tensors, torch has %d" % (name, len(out), len(keys)))
        return
    for k, (n, t) in zip(keys, out):
        if k.split(".")[-1] != n.split(".")[-1] or tuple(sd[k].shape) != t.shape:
            failures.append(name + " " + n)
            print("FAIL %s: %s %s vs torch %s %s" % (name, n, t.shape, k, tuple(sd[k].shape)))
            return
        sd[k] = torch.tensor(t, dtype=torch.float64)
    m.load_state_dict(sd)
    xt = torch.tensor(x, dtype=torch.float64)
    m.eval()
    with torch.no_grad():
        ref_eval = m(xt).numpy()
    m.train()
    logits = m(xt)
    loss = nn.functional.cross_entropy(logits, torch.tensor(y, dtype=torch.long))
    loss.backward()
    grads = {n: p.grad.numpy() for n, p in m.named_parameters()}
    for backend in ("ref", "dnnl"):
        lp, gp = os.path.join(work, "l_%s.npy" % backend), os.path.join(work, "g_%s.safetensors" % backend)
        run(tr, "forward", "--backend", backend, "--weights", w, "--input",
            os.path.join(work, "x.npy"), "--out", lp)
        compare("%s %s eval logits" % (name, backend), np.load(lp), ref_eval, 1e-4, 1e-6)
        txt = run(tr, "grad", "--backend", backend, "--weights", w, "--input",
                  os.path.join(work, "x.npy"), "--labels", os.path.join(work, "y.npy"), "--out", gp)
        g, gorder = st_io.read(gp)
        compare("%s %s train logits" % (name, backend), g["logits"], logits.detach().numpy(), 1e-3, 1e-6)
        gorder = [n for n in gorder if n != "logits"]
        tnames = [k for k, _ in m.named_parameters()]
        if len(gorder) != len(tnames):
            failures.append(name + " gradients")
            print("FAIL %s: %d gradients, torch %d" % (name, len(gorder), len(tnames)))
            continue
        for hn, tn in zip(gorder, tnames):
            compare("%s %s grad %s" % (name, backend, hn), g[hn], grads[tn], 1e-3, 1e-6)
        got_loss = [float(t.split()[1]) for t in txt.splitlines() if t.startswith("loss ")]
        compare("%s %s loss" % (name, backend), got_loss[-1:] or [np.nan], [loss.item()], 1e-5, 1e-6)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    for net in NETS:
        try:
            check(*net)
        except RuntimeError as e:
            failures.append(net[0])
            print("FAIL %s: %s" % (net[0], e))
    print("FAIL: " + ", ".join(failures) if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
