#!/usr/bin/env python3
"""predict --scene over ENVI files a GIS user produces, against two oracles, on the bad-input
corpus's tiny trainer (tests/bad: 6 bands, 3 classes, 3 x 3 patches, synthetic 16 x 16 scene):

- the trainer's own `predict` on the registry scene (--save-cube: the cube it classified and
  its map) and `forward` on the patches cut here with numpy, patch by patch;
- the same cube written as ENVI in every interleave, byte order and data type, with a header
  offset, CRLF or CR-only lines and a byte-order mark, odd key case and spacing (tabs, double
  spaces inside keys), multi-line {} lists, band names and wavelengths of the wrong length,
  .dat / no-extension / .img.hdr names: the same map on every pixel;
- an integer cube standardised by predict --scene itself: the same map in all nine types and
  the map of the patches standardised here; scenes smaller than the patch (1 x 1, one row, one
  column) in every padding; nodata (the ignore value, NaN, Inf): -1 there, the rest unchanged;
- the GIS files read back with GDAL: size, band count, type, nodata, geotransform and CRS equal
  to what GDAL reads from the input cube itself.

    scene_variants.py SHARED WORKDIR [maps|gis]   (SHARED: the corpus's fixture, made by
                                                    tests/bad/run_bad.py --setup; default both)
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from osgeo import gdal, osr

shared, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
part = sys.argv[3] if len(sys.argv) > 3 else "both"
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.chdir(work)
os.environ.update(HSICC_DATASETS=shared + "/datasets.yaml", HSICC_DATA=shared + "/data",
                  OMP_NUM_THREADS="1")
os.environ.pop("HSICC_DATA_MIRROR", None)
TR, W = shared + "/tr", shared + "/run/run0/best.safetensors"
gdal.UseExceptions()
failed = 0


def check(cond, what):
    global failed
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    failed += not cond


def tr(*args):
    p = subprocess.run([TR, *args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("FAILED: tr %s\n%s%s" % (" ".join(args), p.stdout, p.stderr))
    return p


ENVI_DT = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8", 15: "u8"}


def write_envi(stem, cube, dt=4, il="bsq", bo=0, offset=0, ext=".img", hdr=None, extra="",
               style=None):
    """cube [bands, h, w] -> the data file stem+ext and its header (stem.hdr, or hdr)."""
    b, h, w = cube.shape
    t = np.dtype(ENVI_DT[dt]).newbyteorder("<" if bo == 0 else ">")
    a = {"bsq": cube, "bil": cube.transpose(1, 0, 2), "bip": cube.transpose(1, 2, 0)}[il]
    with open(stem + ext, "wb") as f:
        f.write(b"\xa5" * offset + np.ascontiguousarray(a).astype(t).tobytes())
    keys = [("samples", w), ("lines", h), ("bands", b), ("header offset", offset),
            ("file type", "ENVI Standard"), ("data type", dt), ("interleave", il),
            ("byte order", bo)]
    lines = ["%s = %s" % kv for kv in keys]
    nl = "\n"
    if style == "odd":     # keys in other case and spacing, values padded, CRLF line ends
        lines = ["%s\t=   %s  " % ((k.upper() if i % 2 else k.title()).replace(" ", " \t" if i % 3 else "  "),
                                   str(v).upper() if k == "interleave" else v)
                 for i, (k, v) in enumerate(keys)]
        nl = "\r\n"
    if style == "mac":     # a UTF-8 byte-order mark (Windows editors), CR line ends (classic Mac)
        lines[0] = "\ufeffENVI\r" + lines[0]
        nl = "\r"
    if style == "lists":   # {} lists over several lines (with '=' inside), of the wrong length
        extra += ("description = {\n  made by hand, gain = 2 }\nband names = {\n a, b,\n c}\n"
                  "wavelength = {400, 410, 420, 430, 440, 450, 460, 470}\nfwhm = {}\n")
    with open(hdr or stem + ".hdr", "w", newline="", encoding="utf-8") as f:
        f.write(nl.join(([] if style == "mac" else ["ENVI"]) + lines) + nl + extra.replace("\n", nl))


def predict(hdr, out, *opts):
    tr("predict", "--weights", W, "--scene", hdr, "--out", out, *opts)
    return np.load(out + "/pred.npy")


def cut(cube, pad="zero", standardize=True, nodata=None):
    """The patches of every pixel, cut here with numpy as the trainer cuts them (standardised
    over the valid pixels, nodata pixels 0, padded), and the nodata mask."""
    b, h, w = cube.shape
    x = cube.astype(np.float64)
    nd = ~np.isfinite(x.astype(np.float32)).all(0) if nodata is None else nodata
    if standardize:
        for k in range(b):
            v = x[k][~nd]
            s = v.std()
            x[k] = (x[k] - v.mean()) / (s if s > 0 else 1.0)
    x = x.astype(np.float32)
    x[:, nd] = 0
    mode = {"zero": "constant", "reflect": "reflect", "replicate": "edge"}[pad]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode=mode)
    return np.stack([xp[:, i:i + 3, j:j + 3] for i in range(h) for j in range(w)]), nd


def patch_oracle(jobs):
    """jobs: {name: cut(...)} -> {name: (map, tie)}: the patches classified one by one by
    `forward` (one call for all), -1 at nodata; where the two best logits are within 1e-5 (a
    tie) either class is accepted."""
    np.save("oracle.npy", np.concatenate([p for p, _ in jobs.values()]).astype(np.float32))
    tr("forward", "--weights", W, "--input", "oracle.npy", "--out", "oracle_z.npy", "--backend", "ref")
    z, out, i = np.load("oracle_z.npy"), {}, 0
    for name, (p, nd) in jobs.items():
        zi = z[i:i + len(p)].reshape(nd.shape + (-1,))
        i += len(p)
        pred = zi.argmax(-1).astype(np.int32)
        pred[nd] = -1
        zs = np.sort(zi, -1)
        out[name] = pred, (zs[..., -1] - zs[..., -2] < 1e-5) & ~nd
    return out


def same_map(got, want, tie=None):
    if got.shape != want.shape:
        return False
    d = got != want
    if tie is not None:
        d &= ~tie
    return not d.any()


def part_maps(q):
    # ---- 1. the trainer's own predict, and the patches one by one -------------------------------
    tr("predict", "--weights", W, "--out", "ref", "--save-cube")
    cube = np.load("ref/cube.npy")          # standardised, float32 [6, 16, 16]
    ref = np.load("ref/pred.npy")
    holes = [(0, 0), (5, 9), (15, 15), (8, 0)]
    qi = q.copy()
    nd = np.zeros(q.shape[1:], bool)
    for k, (r, c) in enumerate(holes):
        qi[k % 6, r, c] = -9999
        nd[r, c] = True
    small = {"1x1": q[:, 3:4, 5:6], "1x16": q[:, 7:8, :], "16x1": q[:, :, 2:3], "2x3": q[:, 3:5, 5:8]}
    PADS = ("zero", "reflect", "replicate")
    jobs = {"ref": cut(cube, standardize=False), "q": cut(q), "nd": cut(qi, nodata=nd)}
    jobs.update({(n, pad): cut(sub, pad) for n, sub in small.items() for pad in PADS})
    oracle = patch_oracle(jobs)
    check(same_map(ref, *oracle["ref"]), "predict equals forward on the 256 patches cut here")

    # ---- 2. that cube as ENVI, every way of writing it (--no-standardize): the same map ---------
    variants = [  # (data type, interleave, byte order, header offset, data file, header, style)
        (4, "bsq", 0, 0, ".img", None, None), (4, "bil", 0, 0, ".img", None, None),
        (4, "bip", 0, 0, ".img", None, None), (4, "bsq", 1, 0, ".img", None, None),
        (4, "bil", 1, 128, ".dat", None, "odd"), (4, "bip", 1, 3, "", None, "lists"),
        (5, "bsq", 0, 0, ".img", ".img.hdr", None), (5, "bil", 1, 5, ".img", None, "odd"),
        (5, "bip", 0, 0, ".bip", None, "lists"), (4, "bil", 0, 0, ".img", None, "mac"),
    ]
    bad = []
    for i, (dt, il, bo, off, ext, hdr, style) in enumerate(variants):
        stem = "f%d" % i
        hpath = stem + ext + ".hdr" if hdr == ".img.hdr" else None
        write_envi(stem, cube, dt, il, bo, off, ext, hpath, style=style)
        got = predict(hpath or stem + ".hdr", "o_" + stem, "--no-standardize")
        if not same_map(got, ref):
            bad.append("%s: type %d %s byte order %d offset %d %s%s" % (stem, dt, il, bo, off, ext, style or ""))
    check(not bad, "the registry's cube as ENVI in %d layouts (f4/f8, bsq/bil/bip, both byte orders, "
          "offsets, CRLF / CR / BOM and odd keys, multi-line lists, .dat / no extension / .img.hdr): "
              "the same "
          "map %s" % (len(variants), bad))

    # ---- 3. an integer cube standardised by predict --scene: 9 types, one map, the oracle's -----
    want, tie = oracle["q"]
    maps = {}
    for i, dt in enumerate(ENVI_DT):
        il, bo = ("bsq", "bil", "bip")[i % 3], (i // 3) % 2
        write_envi("q%d" % dt, q, dt, il, bo, offset=i)
        maps[dt] = predict("q%d.hdr" % dt, "o_q%d" % dt)
    bad = [dt for dt in maps if not same_map(maps[dt], want, tie)]
    check(not bad, "an integer cube in types %s (every interleave, both byte orders), standardised by "
          "predict --scene: the map of the patches standardised here (differing: %s)"
          % (sorted(maps), bad))
    bad = [dt for dt in maps if not (maps[dt] == maps[4]).all()]
    check(not bad, "and the same map in all nine types (differing from float32: %s)" % bad)

    # ---- 4. scenes smaller than the patch, in every padding -------------------------------------
    bad = []
    for pad in PADS:
        for name, sub in small.items():
            stem = "s_%s_%s" % (name, pad)
            write_envi(stem, sub, 2, "bil")
            got = predict(stem + ".hdr", "o_" + stem, "--set", "preprocess.padding=" + pad)
            if not same_map(got, *oracle[(name, pad)]):
                bad.append(stem)
    check(not bad, "1 x 1, one-row, one-column and 2 x 3 scenes in zero / reflect / replicate "
          "padding: the patches' maps (differing: %s)" % bad)

    # ---- 5. nodata: the ignore value (int16) and NaN / Inf (float32) ----------------------------
    write_envi("nd_i2", qi, 2, "bip", extra="data ignore value = -9999.0\n")
    got = predict("nd_i2.hdr", "o_nd_i2")
    w, t = oracle["nd"]
    check(same_map(got, w, t) and (got[nd] == -1).all(),
          "int16 with 'data ignore value = -9999.0': those pixels -1, the rest the patches' map")
    qf = q.copy()
    for k, (r, c) in enumerate(holes):
        qf[k % 6, r, c] = (np.nan, np.inf, -np.inf, np.nan)[k]
    write_envi("nd_f4", qf, 4, "bil")
    got = predict("nd_f4.hdr", "o_nd_f4")
    check(same_map(got, w, t), "float32 with NaN, Inf and -Inf there: the same map")


def mi_fields(text):
    return [x.strip() for x in text[text.index("{") + 1:text.index("}")].split(",")]


def definition_gt(text):
    """The geotransform an ENVI 'map info' line means: the reference pixel (1-based, (1, 1) the
    upper-left corner of the first pixel) at (easting, northing), columns dx long and rows dy
    long, the image turned counter-clockwise by rotation= degrees about the reference pixel."""
    f = mi_fields(text)
    pos = [x for x in f if "=" not in x]
    rot = [float(x.split("=")[1]) for x in f if x.replace(" ", "").startswith("rotation=")]
    rx, ry, e, n, dx, dy = map(float, pos[1:7])
    a = np.radians(rot[0] if rot else 0.0)
    c, s = np.cos(a), np.sin(a)
    g = [0, dx * c, dy * s, 0, dx * s, -dy * c]
    g[0] = e - (rx - 1) * g[1] - (ry - 1) * g[2]
    g[3] = n - (rx - 1) * g[4] - (ry - 1) * g[5]
    return np.array(g)


def part_gis(q):
    # ---- 6. the GIS files, read back with GDAL --------------------------------------------------
    wkt_cs = osr.SpatialReference()
    wkt_cs.ImportFromEPSG(32633)
    wkt_cs.MorphToESRI()
    geos = {
        "utm": "map info = {UTM, 1, 1, 584000.0, 4060000.0, 3.7, 3.7, 10, North, WGS-84, units=Meters}\n",
        "utm_ref": "map info = {UTM, 2.5, 4.5, 500000, 4000000, 20, 10, 33, South, North America 1983}\n",
        "geog": "map info = {Geographic Lat/Lon, 1, 1, -120.5, 38.25, 0.001, 0.002, WGS-84, units=Degrees}\n",
        "rot": "map info = {UTM, 1, 1, 500000, 4000000, 10, 10, 33, North, WGS-84, rotation=30}\n",
        "feet": "map info = {UTM, 1, 1, 1916000, 13320000, 12, 12, 10, North, WGS-84, units=Feet}\n",
        "wkt": "map info = {UTM, 1, 1, 400000, 9000000, 5, 5, 33, North, WGS-84}\n"
               "coordinate system string = {%s}\n" % wkt_cs.ExportToWkt(),
        # where GDAL 3.6's ENVI reader departs from the definition: a rotation with a reference
        # pixel other than (1, 1) or with non-square pixels (and non-square alone, which agrees)
        "rot_ref": "map info = {UTM, 2.5, 4.5, 500000, 4000000, 10, 10, 33, North, WGS-84, rotation=30}\n",
        "rot_ns": "map info = {UTM, 1, 1, 500000, 4000000, 10, 20, 33, North, WGS-84, rotation=-40}\n",
        "rot_ns_ref": "map info = {UTM, 3, 2, 500000, 4000000, 4, 12, 33, North, WGS-84, units=Meters, rotation=115}\n",
        "ns_ref": "map info = {UTM, 3, 2, 500000, 4000000, 4, 12, 33, North, WGS-84}\n",
    }
    for name, extra in geos.items():
        stem = "g_" + name
        write_envi(stem, q, 12, "bsq", extra=extra)
        out = "o_" + stem
        pred = predict(stem + ".hdr", out, "--prob", "--confidence")
        src = gdal.Open(stem + ".img")   # GDAL's own reading of the cube: the CRS reference
        ggt, ssr = np.array(src.GetGeoTransform()), src.GetSpatialRef()
        sgt = definition_gt(extra)       # the geotransform the header means
        rotated = "rotation" in extra
        problems = []
        if not rotated or name == "rot":   # where GDAL follows the definition, it is the same
            if not np.allclose(ggt, sgt, rtol=0, atol=1e-6):
                problems.append("GDAL reads the input as %s, the definition %s" % (ggt.tolist(), sgt.tolist()))
        hdr = open(out + "/map.hdr").read()
        mi = [l for l in hdr.splitlines() if l.startswith("map info")]
        if len(mi) != 1 or not np.allclose(definition_gt(mi[0]), sgt, rtol=0, atol=1e-6) \
                or mi_fields(mi[0])[:3] != [mi_fields(extra)[0], "1", "1"] \
                or [x for x in mi_fields(extra)[7:] if "rotation" not in x] != \
                   [x for x in mi_fields(mi[0])[7:] if "rotation" not in x]:
            problems.append("map.hdr's %s: not the input's geotransform at reference pixel (1, 1) "
                            "in its projection" % mi)
        for f, bands, typ, nodata in (("map.tif", 1, "Byte", 0), ("map.envi", 1, "Byte", 0),
                                      ("prob.tif", 3, "Float32", -1), ("confidence.tif", 1, "Float32", -1)):
            info = json.loads(subprocess.run(["gdalinfo", "-json", out + "/" + f], capture_output=True,
                                             text=True, check=True).stdout)
            ds = gdal.Open(out + "/" + f)
            b = info["bands"]
            if info["size"] != [16, 16] or len(b) != bands or b[0]["type"] != typ \
                    or any(x.get("noDataValue") != nodata for x in b):
                problems.append("%s: size %s, %d bands of %s, nodata %s" % (
                    f, info["size"], len(b), b[0]["type"], [x.get("noDataValue") for x in b]))
            # GDAL 3.6 cannot read a rotated non-square map info as rectangular pixels: map.hdr
            # (the definition, for ENVI) is read by GDAL as the input itself is read
            want = sgt
            if f == "map.envi" and name.startswith("rot_ns"):   # (rot_ns_ref: neither)
                want = ggt if name == "rot_ns" else None
            if want is not None and not np.allclose(ds.GetGeoTransform(), want, rtol=0, atol=1e-6):
                problems.append("%s: geotransform %s, expected %s" % (f, ds.GetGeoTransform(), want.tolist()))
            sr = ds.GetSpatialRef()
            if sr is None or not sr.IsSame(ssr, ["CRITERION=EQUIVALENT_EXCEPT_AXIS_ORDER_GEOGCRS",
                                                      "IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES"]):
                problems.append("%s: CRS %s, the cube's %s" % (f, sr and sr.GetName(), ssr.GetName()))
        cls = gdal.Open(out + "/map.tif").ReadAsArray()
        env = gdal.Open(out + "/map.envi").ReadAsArray()
        prob = gdal.Open(out + "/prob.tif").ReadAsArray()
        conf = gdal.Open(out + "/confidence.tif").ReadAsArray()
        if not ((cls == pred + 1).all() and (env == cls).all() and (prob.argmax(0) == pred).all()
                and np.allclose(prob.sum(0), 1, atol=1e-5) and np.allclose(conf, prob.max(0))):
            problems.append("values: map.tif / map.envi = pred + 1, prob.tif argmax = pred, sums 1, "
                            "confidence = max")
        check(not problems, "%s: the GIS files as GDAL reads them %s" % (name, problems))


raw = np.load(shared + "/data/Syn/cube.npy").transpose(2, 0, 1).astype(np.float64)   # [6, 16, 16]
q = np.round((raw - raw.min()) * 20)          # whole numbers 0..~100: exact in every type
if part in ("maps", "both"):
    part_maps(q)
if part in ("gis", "both"):
    part_gis(q)
print("scene variants: %s" % ("%d failed" % failed if failed else "passed"))
sys.exit(1 if failed else 0)
