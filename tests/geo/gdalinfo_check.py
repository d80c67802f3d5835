"""gdalinfo_check.py — the class map of `test_geo_mapwriter --write-only DIR` as the GDAL command
line sees it (`gdalinfo -json DIR/map.tif` on stdin): geotransform, CRS, type, nodata, colours,
category names. Exit 0 and 'ok', or 1 with what differs."""
import json
import sys

d = json.load(sys.stdin)
b = d["bands"][0]
checks = [
    ("geoTransform", d.get("geoTransform"), [724500.0, 30.0, 0.0, 3715300.0, 0.0, -30.0]),
    ("CRS is EPSG:32611", 'ID["EPSG",32611]]' in d["coordinateSystem"]["wkt"], True),
    ("size", d["size"], [23, 37]),
    ("type", b["type"], "Byte"),
    ("noDataValue", b.get("noDataValue"), 0.0),
    ("categories", b.get("categories"),
     ["unclassified", "Corn", "Soy, beans", "Wheat", "Grass{x}", "Water"]),
    ("colour of class 0", b["colorTable"]["entries"][1], [255, 0, 0, 255]),
    ("colour of class 4", b["colorTable"]["entries"][5], [1, 2, 3, 255]),
]
bad = [f"{name}: {got!r}, want {want!r}" for name, got, want in checks if got != want]
print("\n".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
