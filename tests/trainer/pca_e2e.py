#!/usr/bin/python3
"""pca_e2e.py — preprocess.pca end to end: hsicc build sizes the net with the components, the
trainer fits the PCA (all pixels or training pixels), saves it with the weights, and eval,
predict and predict --scene re-apply it.

usage: pca_e2e.py HSICC NETDEF WORKDIR
Checked against numpy: the saved components equal numpy's eigenvectors of the standardised
pixels' covariance (up to sign), the cube predict classifies equals numpy's projection, the
variance criterion keeps numpy's count; eval on the run's split reproduces the trainer's test
metrics; predict --scene on the same cube as an ENVI file gives the same map; a checkpoint whose
PCA does not match the experiment or the data is refused with one clear error.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from safetensors_np import read_st  # noqa: E402

HSICC, NET, WORK = sys.argv[1:4]
H, W, B, K = 30, 28, 12, 3


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def run(*args, code=0, cwd=None):
    p = subprocess.run(list(args), cwd=cwd or WORK, env=ENV, capture_output=True, text=True,
                       timeout=300)
    check(p.returncode == code, "%s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s"
          % (" ".join(args), p.returncode, code, p.stdout, p.stderr))
    return p


def make_scene():
    """Bands driven by 3 latent spectra plus small noise: a few components hold the variance."""
    rng = np.random.default_rng(7)
    r, c = np.mgrid[0:H, 0:W]
    lab = 1 + ((r // 5) + (c // 7)) % K
    lab[(r * 5 + c * 3) % 13 == 0] = 0
    latent = rng.normal(0, 1, (K, 3))[np.maximum(lab - 1, 0)] + 0.4 * rng.normal(0, 1, (H, W, 3))
    mix = rng.normal(0, 1, (3, B)) * np.linspace(1, 3, B)
    cube = (latent @ mix + 0.05 * rng.normal(0, 1, (H, W, B)) + 10).astype(np.float32)
    d = os.path.join(WORK, "data", "Mix")
    os.makedirs(d)
    np.save(os.path.join(d, "cube.npy"), cube)
    np.save(os.path.join(d, "gt.npy"), lab.astype(np.int32))
    cube.transpose(2, 0, 1).astype("<f4").tofile(os.path.join(WORK, "scene.img"))
    with open(os.path.join(WORK, "scene.hdr"), "w") as f:
        f.write("ENVI\nsamples = %d\nlines = %d\nbands = %d\nheader offset = 0\nfile type = ENVI "
                "Standard\ndata type = 4\ninterleave = bsq\nbyte order = 0\n" % (W, H, B))
    with open(os.path.join(WORK, "datasets.yaml"), "w") as f:
        f.write("datasets:\n  - name: Mix\n    bands: %d\n    shape: [%d, %d]\n    ignored: [0]\n"
                "    cube: {file: cube.npy}\n    gt: {file: gt.npy}\n    classes:\n%s"
                % (B, H, W, "".join("      - {id: %d, name: c%d}\n" % (k + 1, k + 1)
                                    for k in range(K))))
    return cube


def experiment(name, pca, extra=""):
    with open(os.path.join(WORK, name + ".yaml"), "w") as f:
        f.write("name: %s\nnet: tiny.hsn\ndomains:\n  - dataset: Mix\n%s"
                "preprocess: {patch: 3%s}\nsplit: {train: 20, val: 10}\n"
                "solver: {type: adam, lr: 0.01}\ntrain: {batch: 16, iterations: 60, val_every: 20}\n"
                "outputs: {maps: false, curves: false, checkpoints: both}\n"
                % (name, extra, ", pca: %s" % pca if pca else ""))
    return run(HSICC, "build", name + ".yaml", "-o", name)


def standardised(cube):
    x = cube.reshape(-1, B).astype(np.float64)
    m = x.mean(0)
    sd = np.sqrt(((x - m) ** 2).mean(0))
    return ((cube.reshape(-1, B) - m.astype(np.float32)) / sd.astype(np.float32)).astype(np.float64)


def numpy_pca(x):
    """Eigenvalues (decreasing) and eigenvectors (rows) of the sample covariance of x [n, B]."""
    ev, vec = np.linalg.eigh(np.cov(x, rowvar=False))
    order = np.argsort(ev)[::-1]
    return ev[order], vec[:, order].T


def same_components(st, dom, x, k, what):
    mean, comp, scale = (st["pca.%s.%s" % (dom, t)] for t in ("mean", "components", "scale"))
    check(comp.shape == (k, B) and mean.shape == (B,) and scale.shape == (k,),
          "%s: shapes %s %s %s" % (what, mean.shape, comp.shape, scale.shape))
    check(np.abs(mean - x.mean(0)).max() < 1e-4, "%s: mean differs from numpy's" % what)
    ev, vec = numpy_pca(x)
    for j in range(k):
        cos = abs(float(np.dot(comp[j].astype(np.float64), vec[j])))
        check(cos > 1 - 1e-5, "%s: component %d differs from numpy's (|cos| %.8f)" % (what, j, cos))
    return mean, comp, scale


def main():
    global ENV
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    shutil.copy(NET, os.path.join(WORK, "tiny.hsn"))
    ENV = dict(os.environ, HSICC_DATASETS=os.path.join(WORK, "datasets.yaml"),
               HSICC_DATA=os.path.join(WORK, "data"), OMP_NUM_THREADS="1")
    ENV.pop("HSICC_DATA_MIRROR", None)
    cube = make_scene()
    x = standardised(cube)

    # 1. components fitted on every pixel, after standardisation: numpy's eigenvectors
    experiment("all", "{components: 4}")
    run("./all", "train", "--out", "run_all", "--quiet")
    st = read_st(os.path.join(WORK, "run_all", "run0", "best.safetensors"))
    mean, comp, scale = same_components(st, "Mix", x, 4, "fit all")
    check(np.all(scale == 1), "not whitened, but the scales are %s" % scale)
    conv = [v for k, v in st.items() if not k.startswith("pca.") and v.ndim == 4]
    check(conv and conv[0].shape[1] == 4, "the net does not take 4 bands")
    resolved = open(os.path.join(WORK, "run_all", "experiment.yaml")).read()
    check("  pca:\n    components: 4\n    fit: all\n    whiten: false\n" in resolved,
          "pca not in the resolved experiment:\n" + resolved)

    # 2. eval on the run's split reproduces the trainer's test metrics
    p = run("./all", "eval", "--weights", "run_all/run0/best.safetensors", "--masks",
            "run_all/run0", "--out", "ev")
    m_train = json.load(open(os.path.join(WORK, "run_all", "run0", "metrics.json")))
    m_eval = json.load(open(os.path.join(WORK, "ev", "metrics.json")))
    oa_eval = m_eval["domains"]["Mix"]["oa"]
    check(abs(oa_eval - m_train["oa"]) < 1e-12 and
          abs(m_eval["domains"]["Mix"]["kappa"] - m_train["kappa"]) < 1e-12,
          "eval OA %s, the trainer's %s" % (oa_eval, m_train["oa"]))

    # 3. predict classifies numpy's projection of the cube
    run("./all", "predict", "--weights", "run_all/run0/best.safetensors", "--out", "pr",
        "--save-cube")
    got = np.load(os.path.join(WORK, "pr", "cube.npy"))
    want = ((x.astype(np.float32) - mean) @ comp.T * scale).T.reshape(4, H, W)
    check(got.shape == (4, H, W), "predict's cube is %s" % (got.shape,))
    diff = np.abs(got - want).max()
    check(diff < 1e-4, "predict's cube differs from numpy's projection by %g" % diff)

    # 4. predict --scene on the same cube (ENVI, read by rows): the same map
    run("./all", "predict", "--weights", "run_all/run0/best.safetensors", "--scene", "scene.hdr",
        "--out", "ps")
    a = np.load(os.path.join(WORK, "pr", "pred.npy"))
    b = np.load(os.path.join(WORK, "ps", "pred.npy"))
    agree = float((a == b).mean())
    check(agree > 0.995, "predict --scene agrees with predict on %.4f of the pixels" % agree)

    # 5. fit: train and whiten: the training pixels' covariance, scaled components
    experiment("tr", "{components: 3, fit: train, whiten: true}")
    run("./tr", "train", "--out", "run_tr", "--quiet")
    st = read_st(os.path.join(WORK, "run_tr", "run0", "best.safetensors"))
    masks = np.load(os.path.join(WORK, "run_tr", "run0", "masks.npy")).reshape(-1)
    xt = x[masks == 1]
    check(len(xt) == 20 * K, "%d training pixels" % len(xt))
    _, _, scale = same_components(st, "Mix", xt, 3, "fit train")
    ev, _ = numpy_pca(xt)
    check(np.allclose(scale, 1 / np.sqrt(ev[:3]), rtol=1e-4), "whitening scales %s, numpy %s"
          % (scale, 1 / np.sqrt(ev[:3])))
    p = run("./tr", "eval", "--weights", "run_tr/run0/best.safetensors", "--masks", "run_tr/run0",
            "--out", "ev_tr")
    m_train = json.load(open(os.path.join(WORK, "run_tr", "run0", "metrics.json")))
    m_eval = json.load(open(os.path.join(WORK, "ev_tr", "metrics.json")))
    check(abs(m_eval["domains"]["Mix"]["oa"] - m_train["oa"]) < 1e-12, "fit train: eval OA "
          "%s, the trainer's %s" % (m_eval["domains"]["Mix"]["oa"], m_train["oa"]))

    # 6. variance: hsicc build fits as the trainer will; numpy's count
    ev, _ = numpy_pca(x)
    share = np.cumsum(ev) / ev.sum()
    k_np = int(np.argmax(share >= 0.995)) + 1
    p = experiment("var", "{variance: 0.995}")
    check("preprocess.pca.variance 0.995 keeps %d of 12 components" % k_np in p.stderr,
          "hsicc build's note (numpy keeps %d):\n%s" % (k_np, p.stderr))
    check(1 < k_np < B, "the test scene should need some but not all components: %d" % k_np)
    run("./var", "train", "--out", "run_var", "--quiet", "--set", "train.iterations=5")
    st = read_st(os.path.join(WORK, "run_var", "run0", "last.safetensors"))
    check(st["pca.Mix.components"].shape == (k_np, B), "variance: the run kept %s"
          % (st["pca.Mix.components"].shape,))

    # 7. checkpoints whose PCA does not match: one clear error each
    experiment("plain4", None, "    bands: {range: [0, 4]}\n")   # 4 bands, no PCA: same net
    run("./plain4", "train", "--out", "run_plain4", "--quiet", "--set", "train.iterations=5")
    p = run("./all", "eval", "--weights", "run_plain4/run0/last.safetensors", "--out", "e1", code=1)
    check("run_plain4/run0/last.safetensors: no PCA for domain 'Mix' (tensors pca.Mix.*), but the "
          "experiment has preprocess.pca" in p.stderr, "weights without PCA:\n" + p.stderr)
    p = run("./all", "predict", "--weights", "run_plain4/run0/last.safetensors", "--scene",
            "scene.hdr", "--out", "e2", code=1)
    check("no PCA for domain 'Mix'" in p.stderr, "predict --scene, weights without PCA:\n" + p.stderr)
    p = run("./plain4", "eval", "--weights", "run_all/run0/best.safetensors", "--out", "e3", code=1)
    check("run_all/run0/best.safetensors holds a PCA for domain 'Mix' (tensors pca.Mix.*), but the "
          "experiment has no preprocess.pca" in p.stderr, "PCA weights, no PCA:\n" + p.stderr)
    experiment("ten", "{components: 4}", "    bands: {range: [0, 10]}\n")
    p = run("./ten", "eval", "--weights", "run_all/run0/best.safetensors", "--out", "e4", code=1)
    check("the PCA of domain 'Mix' takes 12 bands, but the data has 10" in p.stderr,
          "PCA of other bands:\n" + p.stderr)
    # components > bands: hsicc build says so
    p = run(HSICC, "build", "all.yaml", "-o", "x", "--set", "preprocess.pca.components=13", code=1)
    check("preprocess.pca.components 13 is more than the 12 bands of domain 'Mix'" in p.stderr,
          "components > bands:\n" + p.stderr)
    print("ok pca: fit all / train / variance %d of %d, eval OA %.4f reproduced, predict --scene "
          "agrees on %.4f" % (k_np, B, oa_eval, agree))


main()
