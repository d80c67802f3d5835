#!/usr/bin/env python3
"""predict --scene end to end on the real Salinas-A cube: the trainer's own `predict` writes the
cube it classified (--save-cube); that cube becomes an ENVI file with a UTM georeference, and
`predict --scene` must give the same map pixel for pixel; the GeoTIFF and the ENVI classification
are read back with GDAL (geotransform, CRS, class values); NaN pixels become nodata (counted);
a cube with another band count, a malformed map info and a file size limit are handled.

    scene_predict_test.py TRAINER WORKDIR
"""
import json
import os
import resource
import shutil
import subprocess
import sys

import numpy as np
from osgeo import gdal

trainer, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.chdir(work)


def run(*args, ok=True, **kw):
    p = subprocess.run([trainer, *args], capture_output=True, text=True, **kw)
    if ok and p.returncode != 0:
        sys.exit("FAILED: %s\n%s%s" % (" ".join(args), p.stdout, p.stderr))
    return p


def write_envi(stem, cube, map_info=None, extra=""):
    """cube: [bands, h, w] float32 -> stem (BSQ data) + stem.hdr"""
    b, h, w = cube.shape
    cube.astype("<f4").tofile(stem)
    hdr = ["ENVI", f"samples = {w}", f"lines = {h}", f"bands = {b}", "header offset = 0",
           "file type = ENVI Standard", "data type = 4", "interleave = bsq", "byte order = 0"]
    if map_info:
        hdr.append("map info = {%s}" % map_info)
    with open(stem + ".hdr", "w") as f:
        f.write("\n".join(hdr) + "\n" + extra)


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        sys.exit(1)


run("train", "--out", "run", "--runs", "1", "--quiet", "--set", "train.epochs=3",
    "--set", "outputs.maps=false")
w = "run/run0/best.safetensors"
run("predict", "--weights", w, "--masks", "run/run0", "--out", "ref", "--save-cube")
cube = np.load("ref/cube.npy")
ref = np.load("ref/pred.npy")
utm = "UTM, 1.000, 1.000, 584000.0, 4060000.0, 3.7, 3.7, 10, North, WGS-84, units=Meters"
write_envi("scene", cube, utm)
p = run("predict", "--weights", w, "--scene", "scene.hdr", "--no-standardize", "--out", "out",
        "--prob", "--confidence")
print(p.stdout, end="")
pred = np.load("out/pred.npy")
check(pred.shape == ref.shape and (pred == ref).all(),
      "predict --scene equals predict on every pixel (%d pixels)" % ref.size)

info = json.loads(subprocess.run(["gdalinfo", "-json", "out/map.tif"], capture_output=True,
                                  text=True, check=True).stdout)
gt = info["geoTransform"]
check(np.allclose(gt, [584000.0, 3.7, 0, 4060000.0, 0, -3.7]), "GeoTIFF geotransform %s" % gt)
wkt = info["coordinateSystem"]["wkt"]
check("UTM zone 10N" in wkt and "WGS" in wkt, "GeoTIFF CRS is WGS 84 / UTM zone 10N")
ds = gdal.Open("out/map.tif")
band = ds.GetRasterBand(1).ReadAsArray()
check((band == ref + 1).all() and ds.GetRasterBand(1).GetNoDataValue() == 0,
      "GeoTIFF class values = class + 1, nodata 0")
names = ds.GetRasterBand(1).GetCategoryNames()
check(names is not None and len(names) >= 2, "GeoTIFF category names %s" % (names[:3] if names else None))
env = gdal.Open("out/map.envi")
check(env is not None and (env.GetRasterBand(1).ReadAsArray() == ref + 1).all()
      and np.allclose(env.GetGeoTransform(), gt), "ENVI classification: values and georeference")
prob = gdal.Open("out/prob.tif").ReadAsArray()
conf = gdal.Open("out/confidence.tif").ReadAsArray()
check(prob.shape[0] == len(names) - 1, "prob.tif has a band per class (%d)" % prob.shape[0])
check(np.allclose(prob.sum(0), 1, atol=1e-4) and np.allclose(conf, prob.max(0), atol=1e-6)
      and (prob.argmax(0) == ref).all(), "probabilities sum to 1, confidence = max, argmax = map")

# NaN pixels -> nodata, counted
nan = cube.copy()
holes = [(0, 0), (10, 20), (40, 85), (82, 3)]
for r, c in holes:
    nan[5, r, c] = np.nan
write_envi("nan", nan, utm)
p = run("predict", "--weights", w, "--scene", "nan.hdr", "--no-standardize", "--out", "out_nan")
pn = np.load("out_nan/pred.npy")
check((pn == -1).sum() == len(holes) and all(pn[r, c] == -1 for r, c in holes)
      and "4 nodata" in p.stdout, "NaN pixels are nodata (-1 in pred.npy) and counted: %s"
      % p.stdout.splitlines()[0])
check((gdal.Open("out_nan/map.tif").ReadAsArray()[tuple(np.array(holes).T)] == 0).all(),
      "NaN pixels are 0 (nodata) in the GeoTIFF")

# another band count: one message naming both
write_envi("bands", cube[:100])
p = run("predict", "--weights", w, "--scene", "bands.hdr", "--out", "out_b", ok=False)
check(p.returncode == 1 and "100 bands" in p.stderr and "expects 204" in p.stderr,
      "a cube with 100 bands: exit 1, " + p.stderr.strip())

# malformed georeference: a warning, outputs without it
write_envi("badgeo", cube, "UTM, 1.0, 1.0, not-a-number")
p = run("predict", "--weights", w, "--scene", "badgeo.hdr", "--no-standardize", "--out", "out_g")
g = gdal.Open("out_g/map.tif")
check("warning" in p.stderr and g.GetProjection() == "" and
      (np.load("out_g/pred.npy") == ref).all(), "malformed map info: warning, no georeference, same map")

# file size limit while writing: a clean error, no file under a final name
def limit():
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))


p = run("predict", "--weights", w, "--scene", "scene.hdr", "--no-standardize", "--out", "out_f",
        "--prob", ok=False, preexec_fn=limit)
left = sorted(f for f in os.listdir("out_f") if not f.startswith(".")) if os.path.isdir("out_f") else []
check(p.returncode == 1 and "File too large" in p.stderr and "map.tif" not in left and "prob.tif" not in left,
      "file size limit: exit %d, %s; final names present: %s" % (p.returncode, p.stderr.strip()[:120], left))
print("scene predict test passed")
