#!/usr/bin/python3
"""onnx.*: `hsicc onnx` models run in ONNX Runtime against the trainer's own forward.

Usage: run_tests.py TEST HSICC WORKDIR ORTDIR, TEST one of

  shipped:NAME   netdefs/NAME.hsn at 20 bands and 5 classes (Salinas-A, resampled)
  zoo:NAME       netdefs/zoo/NAME.hsn at 20 bands (more where its layers need them) and 5
                 classes, from the trainer's `init` weights (no training: Chen's test pass
                 alone takes minutes)
  netdef:PATH    the netdef at PATH (relative to the source tree) at 20 bands and 5 classes
  random:SEED    the net random_net.make(SEED) generates
  domains        the contextual CNN with two domains (other bands and classes each), both
                 exported (by name and by index) and compared with `forward --domain`
  heads          a net with a classification head and a decoder (tests/onnx/heads.hsn): the
                 model is the classification head's
  edge           logits through a dropout, logits = the input, a dead layer and a layer
                 named `logits`, against numpy
  bad            weights missing a tensor, with a wrong shape or a NaN, -o into a missing folder, a
                 failing export leaves an existing model alone, usage errors (no ORT needed)
  infer_setup    the fixture of the module checks: an inference module's hsirt/ compiled into
                 $HSICC_INFER_OBJS
  coverage       the random nets of the CTest seeds cover every feature random_net knows
  ops            lrn (even and odd sizes), crop (centre, window), prelu (per channel, shared),
                 softmax in the middle; and a net ending in softmax before its loss, whose model
                 outputs `probabilities` (= softmax of the trainer's logits)

For a net: build its trainer (`hsicc build`), train 2 steps, draw new conv/dense weights and
perturb every BN (gamma, beta, running mean and variance) and bias so none is an identity and
the logits depend on the input (checked), `TRAINER forward` on random X, export
(`hsicc onnx`), check the file with onnx.checker (full_check), run it in onnxruntime-node
(ORTDIR/node_modules, installed by the onnx.setup test) with its graph optimizations on and
off, and require max |ORT - forward| <= 1e-4 * max |forward| for the forward of either backend
(oneDNN and the reference loops). Dynamic-batch models also run on one sample. The experiment's
inference module (hsicc build --infer) too: classify_patches on both backends, linked with the
hsirt/ objects of infer_setup, within the same tolerance of each forward.
Needs the Salinas-A cube (HSICC_DATA_MIRROR) like the sweep tests. Exit 0 pass, 1 fail.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
import random_net  # noqa: E402
import st_io  # noqa: E402

TEST, HSICC, WORK, ORTDIR = sys.argv[1], os.path.abspath(sys.argv[2]), \
    os.path.abspath(sys.argv[3]), os.path.abspath(sys.argv[4])
RANDOM_SEEDS = range(12)   # the onnx.random.* tests (CMakeLists.txt), for `coverage`
TOL = 1e-4
N = 6                      # samples per comparison


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(*args, code=0):
    args = [str(a) for a in args]
    print("$ " + " ".join(args), flush=True)
    p = subprocess.run(args, capture_output=True, text=True, cwd=WORK)
    if p.returncode != code:
        fail("exit %d, want %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, code, p.stdout, p.stderr))
    return p


def experiment(name, netdef, domains, patch=None):
    """An experiment YAML on Salinas-A: domains = [(name, labels, bands)]; 2 SGD steps; patch:
    preprocess.patch (default: the netdef's)."""
    text = "name: onnx-%s\nnet: %s\ndomains:\n" % (name, netdef)
    for dname, labels, bands in domains:
        text += "  - name: %s\n    dataset: SalinasA\n    labels: %s\n    bands: {resample: %d}\n" \
                % (dname, labels, bands)
    if patch:
        text += "preprocess: {patch: %d}\n" % patch
    text += ("split: {train: 3}\nsolver: {type: sgd, lr: 0.01}\n"
             "train: {batch: 8, iterations: 2, select: last}\nruns: {count: 1, seed: 3}\n"
             "outputs: {maps: false, curves: false, checkpoints: last}\n")
    path = os.path.join(WORK, "experiment.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def trained_weights(exp, train=True):
    """Builds and trains the experiment's trainer (train=False: only its `init` weights, for
    the nets whose test pass would take minutes); returns (trainer, weights path): the trained
    weights with every conv/dense weight drawn anew (He-scaled) and every bias and BN tensor
    perturbed, so no BN is an identity and the logits depend on the input."""
    tr = os.path.join(WORK, "trainer")
    run(HSICC, "build", exp, "-o", tr)
    if train:
        run(tr, "train", "--out", os.path.join(WORK, "run"), "--quiet")
        first = os.path.join(WORK, "run", "run0", "last.safetensors")
    else:
        first = os.path.join(WORK, "init.safetensors")
        run(tr, "init", "--out", first)
    tensors, order = st_io.read(first)
    rng = np.random.default_rng(7)
    out = []
    for name in order:
        t = tensors[name].astype(np.float64)
        bn = name.rsplit(".", 1)[0] + ".running_var" in tensors
        if name.endswith(".running_var"):
            t = t * np.exp(rng.uniform(-0.7, 0.7, t.shape))
        elif name.endswith(".running_mean"):
            t = t + 0.3 * rng.standard_normal(t.shape)
        elif bn and name.endswith(".weight"):
            t = rng.uniform(0.5, 1.5, t.shape)
        elif name.endswith(".weight"):
            # conv / dense weights anew, He-scaled: contextual's gaussian(0.01) init would leave
            # logits that are almost only biases
            t = rng.standard_normal(t.shape) * np.sqrt(2 / np.prod(t.shape[1:]))
        elif name.endswith(".bias"):
            t = t + 0.2 * rng.standard_normal(t.shape)
        elif re.search(r"\.(weight|bias)_(ih|hh)_l\d+(_reverse)?$", name):
            # gru / lstm: every gate block moved apart from the others and from its init, so a
            # gate order mixed up in the export shows
            t = t + 0.3 * rng.standard_normal(t.shape)
        out.append((name, t.astype(np.float32)))
    w = os.path.join(WORK, "weights.safetensors")
    st_io.write(w, out, {"format": "pt"})
    return tr, w


def input_shape(netdef, defines):
    """The per-sample input shape `hsicc check` reports."""
    p = run(HSICC, "check", netdef, *sum((["-D", d] for d in defines), []))
    m = re.search(r"^\s+input\s+input\s+\[([\d, ]+)\]", p.stdout, re.M)
    return [int(x) for x in m.group(1).split(",")]


def check_model(path, batch, shape, classes, output="logits"):
    """onnx.checker with full_check, and the graph's input and output as documented."""
    try:
        import onnx
    except ImportError as e:
        fail("%s: /usr/bin/python3 needs Debian's python3-onnx (./hsi setup installs it)" % e)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)

    def dims(v):
        return [d.dim_value if d.HasField("dim_value") else d.dim_param
                for d in v.type.tensor_type.shape.dim]
    n = batch if batch else "N"
    g = model.graph
    if [v.name for v in g.input] != ["input"] or dims(g.input[0]) != [n] + shape:
        fail("%s: inputs %s, want input %s" % (path, [(v.name, dims(v)) for v in g.input], [n] + shape))
    if [v.name for v in g.output] != [output] or dims(g.output[0]) != [n, classes]:
        fail("%s: outputs %s, want %s %s" % (path, [(v.name, dims(v)) for v in g.output], output,
                                             [n, classes]))
    ops = sorted({node.op_type for node in g.node})
    if "Dropout" in ops:
        fail("%s: dropout exported" % path)
    print("%s: onnx.checker ok, opset %d, ops %s" % (os.path.basename(path),
                                                     model.opset_import[0].version, ", ".join(ops)))


ORT_LEVELS = ("all", "disabled")   # graph optimizations: ORT's fusions on, and the graph as is


def ort(jobs):
    """Runs [(model, X path, out path)] in onnxruntime-node at each of ORT_LEVELS; returns per
    job [(level, logits)]."""
    jf = os.path.join(WORK, "ort_jobs.json")
    runs = [(m, x, "%s.%s.npy" % (o[:-4], level), level) for m, x, o in jobs for level in ORT_LEVELS]
    with open(jf, "w") as f:
        json.dump([{"model": m, "input": x, "out": o, "optimization": level}
                   for m, x, o, level in runs], f)
    if not os.path.isdir(os.path.join(ORTDIR, "node_modules", "onnxruntime-node")):
        fail("onnxruntime-node is not installed in %s (the onnx.setup test installs it)" % ORTDIR)
    run("node", os.path.join(HERE, "ort_run.js"), ORTDIR, jf)
    outs = [(level, np.load(o)) for _, _, o, level in runs]
    return [outs[i:i + len(ORT_LEVELS)] for i in range(0, len(outs), len(ORT_LEVELS))]


def compare(what, ref, results):
    """Every ORT result within TOL of ref (relative to max |ref|)."""
    for level, got in results:   # level None: not ORT's
        label = what if level is None else "%s, ORT optimizations %s" % (what, level)
        if ref.shape != got.shape:
            fail("%s: ONNX Runtime gives %s, the reference %s" % (label, got.shape, ref.shape))
        err = float(np.abs(ref.astype(np.float64) - got).max() / np.abs(ref).max())
        print("%s: max rel err %.3g (max |logit| %.3g)" % (label, err, np.abs(ref).max()))
        if not err <= TOL:
            fail("%s: max rel err %.3g > %g\nreference:\n%s\nort:\n%s" % (label, err, TOL, ref, got))


def forward(tr, w, xp, stem, *more):
    """TRAINER forward on each backend built (HSICC_ONNX_BACKENDS): [(backend, logits)]."""
    refs = []
    for backend in os.environ.get("HSICC_ONNX_BACKENDS", "dnnl,ref").split(","):
        out = os.path.join(WORK, "%s_%s.npy" % (stem, backend))
        run(tr, "forward", "--weights", w, "--input", xp, "--out", out, "--backend", backend, *more)
        refs.append((backend, np.load(out)))
    logits = refs[0][1]
    spread = float(np.ptp(logits, axis=0).max() / np.abs(logits).max())
    if spread < 1e-2:   # else the comparison would hardly see the path from the input
        fail("the logits hardly depend on the input (spread %.3g of max |logit|)" % spread)
    return refs


INFER_OBJS = os.environ.get("HSICC_INFER_OBJS")   # the onnx.infer_setup fixture's hsirt objects
INFER_DNNL = os.environ.get("HSICC_ONNX_BACKENDS", "dnnl,ref").startswith("dnnl")


def cc_module(mod, stem, sources, out, *extra):
    """Compiles an inference module's <stem>_infer.c with sources into out."""
    defs = ["-DHSICC_WITH_DNNL=1"] if INFER_DNNL else []
    run("cc", "-std=c11", "-O2", "-fopenmp", *defs, "-I" + mod, "-I" + os.path.join(mod, "hsirt"),
        "-DSTEM=" + stem, '-DHEADER="%s_infer.h"' % stem, os.path.join(mod, stem + "_infer.c"),
        *sources, *extra, "-o", out, *(["-ldnnl"] if INFER_DNNL else []), "-lm", "-lpthread")


def t_infer_setup():
    """The fixture of the module checks: hsirt/ of an inference module compiled once, into
    HSICC_INFER_OBJS (the objects every net's module links with)."""
    netdef = os.path.join(WORK, "t.hsn")
    with open(netdef, "w") as f:
        f.write(TINY)
    mod = os.path.join(WORK, "mod")
    run(HSICC, "emit", netdef, "--infer", "-o", mod)
    shutil.rmtree(INFER_OBJS, ignore_errors=True)
    os.makedirs(INFER_OBJS)
    hsirt = os.path.join(mod, "hsirt")
    files = [os.path.join(hsirt, f) for f in sorted(os.listdir(hsirt))
             if f.endswith(".c") and (INFER_DNNL or f != "dnnl.c")]
    defs = ["-DHSICC_WITH_DNNL=1"] if INFER_DNNL else []
    for src in files:
        run("cc", "-std=c11", "-O2", "-fopenmp", *defs, "-I" + hsirt, "-c", src, "-o",
            os.path.join(INFER_OBJS, os.path.basename(src)[:-2] + ".o"))


def check_module(exp, w, domains):
    """The experiment's inference module (hsicc build --infer) against the trainer's forward:
    domains = [(index, X path, [(backend, logits)])]; classify_patches on each backend built,
    within TOL of each forward (the reference kernels' module is expected bit for bit, which is
    printed). Skipped without the onnx.infer_setup fixture (HSICC_INFER_OBJS)."""
    if not INFER_OBJS:
        print("inference module: not checked (no HSICC_INFER_OBJS)")
        return
    mod = os.path.join(WORK, "infmod")
    shutil.rmtree(mod, ignore_errors=True)
    run(HSICC, "build", exp, "--infer", mod)
    stem = [f for f in os.listdir(mod) if f.endswith("_infer.h")][0][:-len("_infer.h")]
    exe = os.path.join(WORK, "patches")
    objs = sorted(os.path.join(INFER_OBJS, f) for f in os.listdir(INFER_OBJS))
    cc_module(mod, stem, [os.path.join(HERE, "..", "infer", "patches.c")], exe, *objs)
    for d, xp, refs in domains:
        for onednn in ((1, 0) if INFER_DNNL else (0,)):
            out = os.path.join(WORK, "module_%d_%d.npy" % (d, onednn))
            run(exe, w, xp, out, onednn, d)
            got = np.load(out)
            what = "inference module (%s, domain %d)" % ("oneDNN" if onednn else "reference", d)
            for backend, ref in refs:
                compare("%s vs forward (%s)%s" % (what, backend, ", bit for bit" if
                                                  np.array_equal(ref, got) else ""), ref, [(None, got)])


def softmax(z):
    e = np.exp(z.astype(np.float64) - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def check_net(name, netdef, batch=0, probs=False, bands=20, patch=None, train=True):
    """Trainer forward vs the exported model in ORT, for a single-domain net (probs: the net
    ends in softmax before its loss, the model outputs the softmax of the trainer's logits) at
    `bands` bands and 5 classes (patch: the experiment's preprocess.patch, else the netdef's)."""
    defines = ["bands=%d" % bands, "classes=5"] + (["patch=%d" % patch] if patch else [])
    tr, w = trained_weights(experiment(name, netdef, [("a", "[10, 11, 12, 13, 14]", bands)], patch),
                            train)
    shape = input_shape(netdef, defines)
    x = np.random.default_rng(11).standard_normal([N] + shape).astype(np.float32)
    xp = os.path.join(WORK, "x.npy")
    np.save(xp, x)
    refs = forward(tr, w, xp, "logits")
    check_module(os.path.join(WORK, "experiment.yaml"), w, [(0, xp, refs)])
    if probs:
        refs = [(b, softmax(r)) for b, r in refs]
    model = os.path.join(WORK, name + ".onnx")
    opts = ["--batch", str(batch)] if batch else []
    p = run(HSICC, "onnx", netdef, *sum((["-D", d] for d in defines), []), "--weights", w,
            "-o", model, *opts)
    print(p.stdout.strip())
    check_model(model, batch, shape, 5, "probabilities" if probs else "logits")
    jobs = [(model, xp, os.path.join(WORK, "ort.npy"))]
    if not batch:   # a symbolic batch: one sample too
        np.save(os.path.join(WORK, "x1.npy"), x[:1])
        jobs.append((model, os.path.join(WORK, "x1.npy"), os.path.join(WORK, "ort1.npy")))
    outs = ort(jobs)
    for backend, ref in refs:
        compare("%s vs forward (%s)" % (name, backend), ref, outs[0])
        if not batch:
            compare("%s vs forward (%s), N = 1" % (name, backend), ref[:1], outs[1])


def t_domains():
    netdef = os.path.join(ROOT, "netdefs", "contextual.hsn")
    doms = [("a", "[10, 11, 12, 13, 14]", 20), ("b", "[1, 10, 11]", 16)]
    tr, w = trained_weights(experiment("domains", netdef, doms))
    specs = ["--domain", "a:bands=20,classes=5", "--domain", "b:bands=16,classes=3"]
    jobs, refs = [], []
    for pick, dname, bands, classes in [("b", "b", 16, 3), ("0", "a", 20, 5)]:
        x = np.random.default_rng(bands).standard_normal([N, bands, 5, 5]).astype(np.float32)
        xp = os.path.join(WORK, "x_%s.npy" % dname)
        np.save(xp, x)
        refs.append(("contextual domain %s" % dname, forward(tr, w, xp, "l_" + dname, "--domain", dname)))
        model = os.path.join(WORK, "contextual_%s.onnx" % dname)
        print(run(HSICC, "onnx", netdef, *specs, "--domain-name", pick, "--weights", w,
                  "-o", model).stdout.strip())
        check_model(model, 0, [bands, 5, 5], classes)
        jobs.append((model, xp, os.path.join(WORK, "ort_%s.npy" % dname)))
    for (what, by_backend), got in zip(refs, ort(jobs)):
        for backend, ref in by_backend:
            compare("%s vs forward (%s)" % (what, backend), ref, got)
    check_module(os.path.join(WORK, "experiment.yaml"), w,
                 [(1, jobs[0][1], refs[0][1]), (0, jobs[1][1], refs[1][1])])
    p = run(HSICC, "onnx", netdef, *specs, "--domain-name", "c", "--weights", w, "-o",
            os.path.join(WORK, "c.onnx"), code=1)
    if "0 ('a'), 1 ('b')" not in p.stderr:
        fail("unknown domain: the error should list the domains:\n" + p.stderr)


TINY = """net t(bands = 4, classes = 3, patch = 3) {
  input [bands, patch, patch]
  conv2d(4, 3, name = c) bn(name = b) relu dense(classes, name = fc)
  loss softmax_cross_entropy
}
"""


def t_bad():
    netdef = os.path.join(WORK, "t.hsn")
    with open(netdef, "w") as f:
        f.write(TINY)
    rng = np.random.default_rng(1)
    good = [("c.weight", [4, 4, 3, 3]), ("c.bias", [4]), ("b.weight", [4]), ("b.bias", [4]),
            ("b.running_mean", [4]), ("b.running_var", [4]), ("fc.weight", [3, 4]),
            ("fc.bias", [3])]

    def weights(name, tensors):
        path = os.path.join(WORK, name)
        st_io.write(path, [(n, rng.uniform(0.5, 1, s).astype(np.float32)) for n, s in tensors])
        return path

    def onnx(w, out, code, *more):
        p = run(HSICC, "onnx", netdef, "--weights", w, "-o", out, *more, code=code)
        if code:
            lines = p.stderr.strip().splitlines()
            if len(lines) != 1:
                fail("one message expected:\n" + p.stderr)
            return lines[0]
        return p.stdout

    ok = weights("good.safetensors", good)
    model = os.path.join(WORK, "t.onnx")
    onnx(ok, model, 0, "--batch", "3")
    check_model(model, 3, [4, 3, 3], 3)
    before = open(model, "rb").read()

    missing = weights("missing.safetensors", good[:-1])
    msg = onnx(missing, model, 1)
    if msg != "hsicc: error: %s: no tensor 'fc.bias' (the file has 7 tensors)" % missing:
        fail("missing tensor: " + msg)
    shaped = weights("shape.safetensors", [("c.weight", [4, 4, 3, 2])] + good[1:])
    msg = onnx(shaped, model, 1)
    if msg != ("hsicc: error: %s: tensor 'c.weight': checkpoint has [4,4,3,2], the net expects "
               "[4,4,3,3]" % shaped):
        fail("wrong shape: " + msg)
    nan = os.path.join(WORK, "nan.safetensors")
    st_io.write(nan, [(n, np.full(sh, np.nan if n == "b.running_var" else 1, np.float32))
                      for n, sh in good])
    msg = onnx(nan, model, 1)
    if msg != ("hsicc: error: %s: tensor 'b.running_var' holds 4 non-finite values (NaN or Inf; the "
               "first at index 0): these weights come from a diverged training" % nan):
        fail("non-finite weights: " + msg)
    if open(model, "rb").read() != before:
        fail("a failed export changed the existing model")

    nowhere = os.path.join(WORK, "no", "such", "folder", "t.onnx")
    msg = onnx(ok, nowhere, 1)
    if not msg.startswith("hsicc: error: %s: cannot create a temporary file" % nowhere):
        fail("-o into a missing folder: " + msg)
    msg = onnx(os.path.join(WORK, "absent.safetensors"), model, 1)
    if "absent.safetensors: cannot open" not in msg:
        fail("missing weights file: " + msg)
    leftovers = [f for f in os.listdir(WORK) if ".tmp." in f]
    if leftovers:
        fail("temporary files left behind: %s" % leftovers)

    p = run(HSICC, "onnx", "--help")
    if not p.stdout.startswith("usage: hsicc onnx"):
        fail("--help prints the usage on stdout:\n" + p.stdout)
    run(HSICC, "onnx", code=2)
    run(HSICC, "onnx", netdef, "--weights", ok, code=2)              # no -o
    run(HSICC, "onnx", netdef, "--weights", ok, "-o", model, "--batch", "0", code=2)
    run(HSICC, "onnx", netdef, "--weights", ok, "-o", model, "--bogus", code=2)
    run(HSICC, "onnx", netdef, "--weights", ok, "-o", code=2)
    run(HSICC, "onnx", netdef, "--weights", ok, "-o", model, "-D", "bands=5", code=1)
    run(HSICC, "onnx", netdef, "--weights", ok, "-o", model, "--batch", "dynamic")
    check_model(model, 0, [4, 3, 3], 3)


EDGE = """net ends_in_dropout(classes = 4) {
  input [6]
  dense(classes, name = fc) dropout(0.5)
  loss softmax_cross_entropy
}
net no_layers() {
  input [3]
  loss softmax_cross_entropy
}
net dead_layer(classes = 3) {
  x = input [2, 3, 3]
  conv2d(4, 1, name = dead)
  x flatten dense(classes, name = logits)
  loss softmax_cross_entropy
}
"""


def t_edge():
    """Nets whose logits come through a dropout, are the input itself, or come from a layer
    named `logits` while another layer is read by nothing (its weights are not needed): the
    models against numpy."""
    netdef = os.path.join(WORK, "edge.hsn")
    with open(netdef, "w") as f:
        f.write(EDGE)
    rng = np.random.default_rng(5)
    w_fc, b_fc = rng.standard_normal((4, 6)), rng.standard_normal(4)
    w_lg, b_lg = rng.standard_normal((3, 18)), rng.standard_normal(3)
    cases = [("ends_in_dropout", [6], [("fc.weight", w_fc), ("fc.bias", b_fc)],
              lambda x: x @ w_fc.T + b_fc),
             ("no_layers", [3], [], lambda x: x),
             ("dead_layer", [2, 3, 3], [("logits.weight", w_lg), ("logits.bias", b_lg)],
              lambda x: x.reshape(len(x), -1) @ w_lg.T + b_lg)]
    jobs, want = [], []
    for net, shape, tensors, f in cases:
        w = os.path.join(WORK, net + ".safetensors")
        st_io.write(w, [(n, t.astype(np.float32)) for n, t in tensors] or
                    [("unused", np.zeros(1, np.float32))])
        model = os.path.join(WORK, net + ".onnx")
        run(HSICC, "onnx", netdef, "--net", net, "--weights", w, "-o", model)
        x = rng.standard_normal([N] + shape).astype(np.float32)
        check_model(model, 0, shape, f(x).shape[1])
        xp = os.path.join(WORK, net + "_x.npy")
        np.save(xp, x)
        jobs.append((model, xp, os.path.join(WORK, net + "_ort.npy")))
        want.append((net, f(x.astype(np.float64))))
    for (net, ref), got in zip(want, ort(jobs)):
        compare(net + " vs numpy", ref, got)


OPS_NET = """net ops(bands, classes, patch = 7) {
  input [1, bands, patch, patch]
  conv3d(8, [3, 1, 1], stride = [2, 1, 1]) tanh
  lrn(4, alpha = 0.5, beta = 0.75, k = 1.5)
  crop(5)
  reshape [-1, height, width]
  conv2d(12, 1) prelu
  lrn(3, alpha = 0.3)
  crop(size = [3, 4], offset = [1, 0])
  softmax
  conv2d(6, 1) prelu(channels = 1)
  flatten dense(classes)
  loss softmax_cross_entropy
}
"""

PROBS_NET = """net probs(bands, classes, patch = 5) {
  input [bands, patch, patch]
  conv2d(10, 3) bn prelu
  flatten dense(classes) softmax
  loss softmax_cross_entropy
}
"""


def t_ops():
    for name, text, probs in (("ops", OPS_NET, False), ("probs", PROBS_NET, True)):
        netdef = os.path.join(WORK, name + ".hsn")
        with open(netdef, "w") as f:
            f.write(text)
        shutil.rmtree(os.path.join(WORK, "run"), ignore_errors=True)   # the previous net's training
        check_net(name, netdef, probs=probs)


def t_coverage():
    seen = set()
    for s in RANDOM_SEEDS:
        seen |= random_net.features(random_net.make(s)[0])
    missing = sorted(set(random_net.FEATURES) - seen)
    if missing:
        fail("the random nets of seeds %s do not cover %s" % (list(RANDOM_SEEDS), missing))
    print("%d features covered by %d random nets" % (len(seen), len(RANDOM_SEEDS)))


# netdefs/zoo models whose layers need more than 20 bands, or an odd patch (a trainer labels a
# patch by its centre pixel): (bands, patch); the others at 20 bands and their own patch
ZOO = {"chen": (100, None), "luo": (50, None), "sharma": (20, 65)}


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    kind, _, arg = TEST.partition(":")
    if kind == "shipped":
        # one shipped net gets a fixed batch: the others keep the symbolic N
        check_net(arg, os.path.join(ROOT, "netdefs", arg + ".hsn"), N if arg == "ssrn-spa" else 0)
    elif kind == "zoo":
        bands, patch = ZOO.get(arg, (20, None))
        check_net(arg, os.path.join(ROOT, "netdefs", "zoo", arg + ".hsn"), bands=bands, patch=patch,
                  train=False)
    elif kind == "netdef":   # a netdef of the tree (it takes bands and classes)
        check_net(os.path.splitext(os.path.basename(arg))[0], os.path.join(ROOT, arg))
    elif kind == "random":
        text, _ = random_net.make(int(arg))
        netdef = os.path.join(WORK, "rnd%s.hsn" % arg)
        with open(netdef, "w") as f:
            f.write(text)
        print(text)
        check_net("rnd" + arg, netdef)
    elif kind == "domains":
        t_domains()
    elif kind == "infer_setup":
        t_infer_setup()
    elif kind == "bad":
        t_bad()
    elif kind == "edge":
        t_edge()
    elif kind == "heads":   # two heads: only the classification head is exported
        check_net("heads", os.path.join(HERE, "heads.hsn"))
    elif kind == "coverage":
        t_coverage()
    elif kind == "ops":
        t_ops()
    else:
        fail("unknown test " + TEST)
    print("PASS")


if __name__ == "__main__":
    main()
