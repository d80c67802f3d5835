#!/usr/bin/python3
"""bn_recompute_e2e.py — BN outputs recomputed for the backward train exactly like kept ones.

usage: bn_recompute_e2e.py HSICC SSRN_NETDEF CONTEXTUAL_NETDEF SYNTH_SCENE_PY WORKDIR
On a small synthetic int16 ENVI scene (bench/synth_scene.py), SSRN and the contextual CNN
(hsicc build, the oneDNN backend with bnorm.c's BN) each train twice with one thread: as built
(a BN+ReLU output that only convs read in the backward is recomputed from the BN's input there,
not kept from the forward) and with HSICC_NO_BN_RECOMPUTE=1 (kept, as before). Checked: the
weights, metrics, masks and confusion matrices are the same bytes, and the start-of-run
"memory:" line's activation arena is smaller with the recompute for SSRN (its spectral BN
outputs are the largest tensors) and not larger for the contextual CNN.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import check, memory_line, run, same_results  # noqa: E402

HSICC, SSRN, CTX, SYNTH, WORK = sys.argv[1:6]
H, W, B = 48, 85, 24   # synth_scene.py puts all 16 classes in 48 x 85


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in ("HSICC_NO_BN_RECOMPUTE", "HSICC_DNNL_BN", "HSICC_FLOAT_CUBE"):
        env.pop(k, None)
    run(["/usr/bin/python3", SYNTH, os.path.join(WORK, "synth"), str(H), str(W), str(B), "--gt"],
        env, WORK)
    reg = os.path.join(WORK, "synth", "registry.yaml")
    for tag, net, patch in (("ssrn", SSRN, 7), ("contextual", CTX, 5)):
        exp = os.path.join(WORK, tag + ".yaml")
        with open(exp, "w") as f:
            f.write("name: %s\nnet: %s\ndomains: [{dataset: synth}]\n"
                    "preprocess: {standardize: all, padding: reflect, patch: %d}\n"
                    "split: {train: 5, val: 3}\nsolver: {type: rmsprop, lr: 3.0e-4}\n"
                    "train: {batch: 16, epochs: 2}\n" % (tag, net, patch))
        trainer = os.path.join(WORK, "trainer_" + tag)
        run([HSICC, "build", exp, "-o", trainer], dict(env, HSICC_DATASETS=reg), WORK)
        mem = {}
        for mode, extra in (("recompute", {}), ("kept", {"HSICC_NO_BN_RECOMPUTE": "1"})):
            p = run([trainer, "train", "--datasets", reg, "--data", WORK, "--out",
                     "%s_%s" % (tag, mode), "--overwrite"], dict(env, **extra), WORK)
            mem[mode] = memory_line(p.stderr)[2]
        files = same_results(os.path.join(WORK, tag + "_recompute"), os.path.join(WORK, tag + "_kept"))
        check(files >= 4, "%s: only %d result files compared" % (tag, files))
        if tag == "ssrn":
            check(mem["recompute"] < mem["kept"], "ssrn: arena %.1f MB with the recompute, %.1f MB "
                  "without: want smaller" % (mem["recompute"], mem["kept"]))
        else:
            check(mem["recompute"] <= mem["kept"], "%s: arena %.1f MB with the recompute, %.1f MB "
                  "without: want not larger" % (tag, mem["recompute"], mem["kept"]))
        print("ok: %s: %d result files identical; arena %.1f MB (recomputed) vs %.1f MB (kept)"
              % (tag, files, mem["recompute"], mem["kept"]))


main()
