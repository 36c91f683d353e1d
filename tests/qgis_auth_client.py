"""Run by Debian's /usr/bin/python3 (QGIS 3.22): open the restricted WMS the two ways QGIS users do — an
authentication configuration (HTTP Basic) and a URL with an API key — and render it; print JSON."""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsRasterLayer  # noqa: E402
from qgis_render import render  # noqa: E402

base, user, password, key, extent = sys.argv[1:6]
app = QgsApplication([], False)
app.initQgis()
auth = QgsApplication.authManager()
auth.setMasterPassword("grunndata-test", True)
cfg = QgsAuthMethodConfig("Basic")
cfg.setName("grunndata-va")
cfg.setConfig("username", user)
cfg.setConfig("password", password)
auth.storeAuthenticationConfig(cfg)
layer = "va_nett-ledning"
sources = {
    "authcfg": f"authcfg={cfg.id()}&url={base}/wms-restricted&layers={layer}&styles=&crs=EPSG:25832&format=image/png",
    "apikey": f"url={base}/wms-restricted?apikey={key}&layers={layer}&styles=&crs=EPSG:25832&format=image/png",
    "anonymous": f"url={base}/wms-restricted&layers={layer}&styles=&crs=EPSG:25832&format=image/png",
}
out = {}
minx, miny, maxx, maxy = map(float, extent.split(","))
for name, uri in sources.items():
    ras = QgsRasterLayer(uri, name, "wms")
    res = {"valid": ras.isValid()}
    if ras.isValid():
        colours = render(ras, (minx, miny, maxx, maxy), (200, 200))
        res["blue"] = sum(1 for c in colours if c.alpha() > 200 and c.blue() > c.red() + 60)
        res["red"] = sum(1 for c in colours if c.alpha() > 200 and c.red() > c.blue() + 60 and c.red() > c.green() + 60)
    out[name] = res
print(json.dumps(out), flush=True)
os._exit(0)
