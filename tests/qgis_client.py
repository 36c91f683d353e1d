"""Run by Debian's /usr/bin/python3 (QGIS 3.22 bindings), not the venv: open an OGC API collection and a
WMS layer the way QGIS users do, print what QGIS saw as JSON."""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import QgsApplication, QgsRasterLayer, QgsVectorLayer  # noqa: E402
from qgis_render import render  # noqa: E402

base, collection, layer = sys.argv[1:4]
app = QgsApplication([], False)
app.initQgis()
out = {}
vec = QgsVectorLayer(f"url='{base}/ogc' typename='{collection}'", "oapif", "OAPIF")
out["oapif_valid"] = vec.isValid()
if vec.isValid():
    feats = list(vec.getFeatures())
    out["oapif_count"] = len(feats)
    out["oapif_fields"] = [f.name() for f in vec.fields()]
    out["oapif_all_names"] = sorted(f["namn"] for f in feats)
    out["oapif_crs"] = vec.crs().authid()
ras = QgsRasterLayer(f"url={base}/wms&layers={layer}&styles=&crs=EPSG:25832&format=image/png", "wms", "wms")
out["wms_valid"] = ras.isValid()
if ras.isValid():
    out["wms_crs"] = ras.crs().authid()
    # Render around Leirvik as QGIS draws a map canvas, and count the pixels the WMS layer drew.
    colours = render(ras, (303000, 6632000, 304500, 6633000), (300, 200))
    out["wms_drawn_pixels"] = sum(1 for c in colours if c.alpha() > 0)
    out["wms_green_pixels"] = sum(1 for c in colours if c.alpha() > 200 and c.green() > c.red() + 40)
print(json.dumps(out, ensure_ascii=False), flush=True)
# QGIS 3.22's exitQgis() can segfault at teardown when run headless; the results are printed already.
os._exit(0)
