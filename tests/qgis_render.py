"""Shared by the QGIS client scripts (Debian's /usr/bin/python3): draw one layer as a QGIS map canvas does."""

from qgis.core import QgsMapRendererSequentialJob, QgsMapSettings, QgsRectangle
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def render(layer, extent: tuple[float, float, float, float], size: tuple[int, int]) -> list[QColor]:
    """Every pixel's colour of `layer` drawn over `extent` (in the layer's CRS) on a transparent background."""
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(QgsRectangle(*extent))
    settings.setOutputSize(QSize(*size))
    settings.setBackgroundColor(QColor(255, 255, 255, 0))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    img = job.renderedImage()
    return [img.pixelColor(x, y) for x in range(img.width()) for y in range(img.height())]
