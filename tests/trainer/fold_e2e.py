#!/usr/bin/python3
"""fold_e2e.py — the ops a conv does for its neighbours train exactly like the ops themselves.

usage: fold_e2e.py HSICC SSRN_NETDEF SYNTH_SCENE_PY WORKDIR [VAR,VAR...]
The optional list names the variables set to 1 for the second training instead of the four
below (trainer.input_borrow: HSICC_NO_INPUT_BORROW, every batch copied into the model's arena
instead of read in place, hsi_model_input_to).
On a small synthetic int16 ENVI scene (bench/synth_scene.py), SSRN (hsicc build, the oneDNN
backend) trains twice with one thread, validating after every epoch: as built (its k x 1 x 1
convs apply the BN before them, do the residual add after them, sum their outputs for the BNs
and add their input gradient into the one the residual add gave: hsi_conv_takes_bn,
hsi_conv_takes_residual, hsi_bn_sums_from, hsi_bn_grad_sums_from, hsi_conv_adds_dsrc) and with
HSICC_NO_BN_FOLD=1 HSICC_NO_ADD_FOLD=1 HSICC_NO_SUMS_FOLD=1 HSICC_NO_ACCUM_FOLD=1 (every op on
its own) and HSICC_NO_BN_INPLACE=1 (every BN's input gradient in a memory of its own, not over
its output gradient: hsi_bn_grad_shares). Checked: the
weights, metrics, masks and confusion matrices are the same bytes. The validation passes between
the epochs' training steps run the inference forward on the same ops, so this also checks that
switching between training and evaluation never leaves a BN with another tensor's sums.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import check, run, same_results  # noqa: E402

HSICC, SSRN, SYNTH, WORK = sys.argv[1:5]
H, W, B = 48, 85, 24   # synth_scene.py puts all 16 classes in 48 x 85
OFF = {"HSICC_NO_BN_FOLD": "1", "HSICC_NO_ADD_FOLD": "1", "HSICC_NO_SUMS_FOLD": "1",
       "HSICC_NO_ACCUM_FOLD": "1", "HSICC_NO_BN_INPLACE": "1"}
if len(sys.argv) > 5:
    OFF = {k: "1" for k in sys.argv[5].split(",") if k}


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in list(OFF) + ["HSICC_NO_BN_RECOMPUTE", "HSICC_DNNL_BN", "HSICC_FLOAT_CUBE",
                          "HSICC_NO_INPUT_BORROW"]:
        env.pop(k, None)
    run(["/usr/bin/python3", SYNTH, os.path.join(WORK, "synth"), str(H), str(W), str(B), "--gt"],
        env, WORK)
    reg = os.path.join(WORK, "synth", "registry.yaml")
    exp = os.path.join(WORK, "ssrn.yaml")
    with open(exp, "w") as f:
        f.write("name: ssrn\nnet: %s\ndomains: [{dataset: synth}]\n"
                "preprocess: {standardize: all, padding: reflect, patch: 7}\n"
                "split: {train: 5, val: 3}\nsolver: {type: rmsprop, lr: 3.0e-4}\n"
                "train: {batch: 16, epochs: 3}\n" % SSRN)
    trainer = os.path.join(WORK, "trainer_ssrn")
    run([HSICC, "build", exp, "-o", trainer], dict(env, HSICC_DATASETS=reg), WORK)
    for mode, extra in (("fused", {}), ("apart", OFF)):
        run([trainer, "train", "--datasets", reg, "--data", WORK, "--out", "ssrn_" + mode,
             "--overwrite"], dict(env, **extra), WORK)
    files = same_results(os.path.join(WORK, "ssrn_fused"), os.path.join(WORK, "ssrn_apart"))
    check(files >= 4, "ssrn: only %d result files compared" % files)
    print("ok: ssrn: %d result files identical with and without %s" % (files, ", ".join(OFF)))


main()
