"""Run by Debian's /usr/bin/python3 (QGIS 3.22): open the restricted WMS the two ways QGIS users do — an
authentication configuration (HTTP Basic) and a URL with an API key — and render it; print JSON."""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsAuthMethodConfig,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsRasterLayer,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

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
        settings = QgsMapSettings()
        settings.setLayers([ras])
        settings.setDestinationCrs(ras.crs())
        settings.setExtent(QgsRectangle(minx, miny, maxx, maxy))
        settings.setOutputSize(QSize(200, 200))
        settings.setBackgroundColor(QColor(255, 255, 255, 0))
        job = QgsMapRendererSequentialJob(settings)
        job.start()
        job.waitForFinished()
        img = job.renderedImage()
        colours = [img.pixelColor(x, y) for x in range(img.width()) for y in range(img.height())]
        res["blue"] = sum(1 for c in colours if c.alpha() > 200 and c.blue() > c.red() + 60)
        res["red"] = sum(1 for c in colours if c.alpha() > 200 and c.red() > c.blue() + 60 and c.red() > c.green() + 60)
    out[name] = res
print(json.dumps(out), flush=True)
os._exit(0)
