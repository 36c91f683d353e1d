"""The printable ledningskart (PDF, reportlab): MapServer's rendering of the restricted VA layers at a stated
scale around the graveområde, with legend, scale bar, date, user and the warning that positions can be
inaccurate and påvisning may be needed."""

from __future__ import annotations

import io
from datetime import datetime

import shapely
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from grunndata.access import User
from grunndata.kommune import Kommune

from .wms import Wms

MAP_W_MM, MAP_H_MM = 200.0, 170.0
DPI = 200
LAYERS = "va_nett-ledning,va_nett-punkt"
WARNING = ("Posisjonane er henta frå kommunen sitt VA-kartverk og kan vere unøyaktige (sjå nøyaktigheit per objekt). "
           "Påvising på staden kan vere naudsynt før graving. Kartet erstattar ikkje gravemelding.")


def render(wms: Wms, area: shapely.Polygon, scale: int, user: User, kommune: Kommune,
           found: dict[str, list]) -> bytes:
    cx, cy = area.centroid.x, area.centroid.y
    ground_w, ground_h = MAP_W_MM / 1000 * scale, MAP_H_MM / 1000 * scale
    minx, miny = cx - ground_w / 2, cy - ground_h / 2
    px_w, px_h = round(MAP_W_MM / 25.4 * DPI), round(MAP_H_MM / 25.4 * DPI)
    query = (f"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS={LAYERS}&STYLES=&CRS={kommune.crs}"
             f"&BBOX={minx},{miny},{minx + ground_w},{miny + ground_h}&WIDTH={px_w}&HEIGHT={px_h}"
             f"&FORMAT=image/png&TRANSPARENT=FALSE&MAP_RESOLUTION={DPI}")
    image = wms.dispatch(query)
    legend = [wms.dispatch(f"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER={name}&FORMAT=image/png"
                           f"&SLD_VERSION=1.1.0") for name in LAYERS.split(",")]
    buf = io.BytesIO()
    page_w, page_h = landscape(A4)
    c = canvas.Canvas(buf, pagesize=landscape(A4), pageCompression=0)  # text stays searchable
    c.setTitle(f"Ledningskart {kommune.namn}")
    c.setAuthor(f"grunndata for {kommune.namn}")
    x0, y0 = 12 * mm, 18 * mm
    c.drawImage(ImageReader(io.BytesIO(image.body)), x0, y0, MAP_W_MM * mm, MAP_H_MM * mm)
    c.setLineWidth(1)
    c.rect(x0, y0, MAP_W_MM * mm, MAP_H_MM * mm)
    # the graveområde, in page coordinates
    k = 1000 / scale * mm  # page points per ground metre
    ring = [(x0 + (x - minx) * k, y0 + (y - miny) * k) for x, y in area.exterior.coords]
    c.setStrokeColorRGB(0.9, 0.1, 0.1)
    c.setLineWidth(2)
    c.setDash(6, 3)
    path = c.beginPath()
    path.moveTo(*ring[0])
    for pt in ring[1:]:
        path.lineTo(*pt)
    c.drawPath(path, stroke=1, fill=0)
    c.setDash()
    c.setStrokeColorRGB(0, 0, 0)
    # scale bar: a round length close to a fifth of the map width
    bar_m = next(v for v in (100, 50, 20, 10, 5) if v <= ground_w / 4)
    c.setLineWidth(2)
    c.line(x0 + 5 * mm, y0 - 8 * mm, x0 + 5 * mm + bar_m * k, y0 - 8 * mm)
    c.setFont("Helvetica", 8)
    c.drawString(x0 + 5 * mm, y0 - 13 * mm, f"0 – {bar_m} m    Målestokk 1:{scale} (A4 liggande, 100 %)")
    c.drawString(x0 + MAP_W_MM * mm - 8 * mm, y0 + MAP_H_MM * mm - 8 * mm, "N ↑")
    # the side panel
    sx = x0 + MAP_W_MM * mm + 8 * mm
    top = page_h - 16 * mm
    c.setFont("Helvetica-Bold", 14)
    c.drawString(sx, top, "Ledningskart – VA")
    c.setFont("Helvetica", 9)
    lines = [kommune.namn, f"Utskrive {datetime.now():%d.%m.%Y %H:%M}",
             f"Av: {user.namn or user.brukarnamn} ({user.organisasjon or '–'})",
             f"Graveområde: {area.area:.0f} m²", f"Leidningar i området: {len(found['ledning'])}",
             f"Punkt i området: {len(found['punkt'])}", f"Senter: {cx:.0f} Ø, {cy:.0f} N ({kommune.crs})"]
    for i, text in enumerate(lines):
        c.drawString(sx, top - (8 + i * 5) * mm, text)
    y = top - 50 * mm
    for img in legend:
        reader = ImageReader(io.BytesIO(img.body))
        w, h = reader.getSize()
        scale_img = min(1.0, 55 * mm / w)
        c.drawImage(reader, sx, y - h * scale_img, w * scale_img, h * scale_img, mask="auto")
        y -= h * scale_img + 3 * mm
    text = c.beginText(sx, 40 * mm)
    text.setFont("Helvetica-Bold", 8)
    text.textLine("Merk:")
    text.setFont("Helvetica", 8)
    for line in _wrap(WARNING, 48):
        text.textLine(line)
    c.drawText(text)
    c.showPage()
    c.save()
    return buf.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    out, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*out, line]
