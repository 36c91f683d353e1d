"""The property report as a PDF (reportlab, as the ledningskart in pipemap.py): maps rendered by MapServer (the
public WMS; the VA map by the restricted one, only in a licensed user's report), the teig drawn over them, and per
section its source and date, then the caveats. Text in the reader's language."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from shapely.geometry.base import BaseGeometry

from .i18n import active
from .i18n import gettext as _
from .report_text import national_status
from .wms import Wms

MAP_W_MM, MAP_H_MM = 170.0, 105.0
PX_PER_MM = 6  # ~150 dpi
MARGIN_M = 40  # ground metres around the teig


def _bbox(geom: BaseGeometry) -> tuple[float, float, float, float]:
    """The teig with a margin, widened to the map's aspect ratio."""
    minx, miny, maxx, maxy = geom.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    w, h = maxx - minx + 2 * MARGIN_M, maxy - miny + 2 * MARGIN_M
    ratio = MAP_W_MM / MAP_H_MM
    w, h = max(w, h * ratio), max(h, w / ratio)
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def render_map(wms: Wms, layers: str, geom: BaseGeometry, crs: str) -> bytes | None:
    minx, miny, maxx, maxy = _bbox(geom)
    result = wms.dispatch(f"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS={layers}&STYLES=&CRS={crs}"
                          f"&BBOX={minx},{miny},{maxx},{maxy}&WIDTH={round(MAP_W_MM * PX_PER_MM)}"
                          f"&HEIGHT={round(MAP_H_MM * PX_PER_MM)}&FORMAT=image/png&TRANSPARENT=FALSE")
    return result.body if result.status == 200 and result.content_type.startswith("image/") else None


class MapFigure(Flowable):
    """A rendered map with the teig's outline drawn over it in red, and a scale bar."""

    def __init__(self, image: bytes, geom: BaseGeometry) -> None:
        super().__init__()
        self.image, self.geom = image, geom
        self.width, self.height = MAP_W_MM * mm, MAP_H_MM * mm + 6 * mm

    def draw(self) -> None:
        c = self.canv
        y0 = 6 * mm
        c.drawImage(ImageReader(io.BytesIO(self.image)), 0, y0, self.width, MAP_H_MM * mm)
        c.rect(0, y0, self.width, MAP_H_MM * mm)
        minx, miny, maxx, _maxy = _bbox(self.geom)
        k = self.width / (maxx - minx)  # points per ground metre
        c.setStrokeColorRGB(0.85, 0.05, 0.05)
        c.setLineWidth(2)
        polygons = getattr(self.geom, "geoms", [self.geom])
        for poly in polygons:
            ring = [((x - minx) * k, y0 + (y - miny) * k) for x, y in poly.exterior.coords]
            path = c.beginPath()
            path.moveTo(*ring[0])
            for pt in ring[1:]:
                path.lineTo(*pt)
            c.drawPath(path, stroke=1, fill=0)
        c.setStrokeColorRGB(0, 0, 0)
        bar = next(v for v in (200, 100, 50, 20, 10) if v <= (maxx - minx) / 4)
        c.setLineWidth(2)
        c.line(0, 2 * mm, bar * k, 2 * mm)
        c.setFont("Helvetica", 7)
        c.drawString(bar * k + 2 * mm, 1.2 * mm, f"{bar} m")


def render(report: dict, geom: BaseGeometry, kommune_namn: str, crs: str, wms: Wms, wms_restricted: Wms) -> bytes:
    lang = active()
    styles = getSampleStyleSheet()
    h1, h2, body, small = styles["Title"], styles["Heading2"], styles["BodyText"], styles["Italic"]
    small.fontSize = 8
    out: list = []
    # gettext calls outside the f-strings below, so that extraction (babel) finds them
    t = {"Source": _("Source"), "Updated": _("Updated"), "Property report": _("Property report"),
         "Cadastral number": _("Cadastral number"), "Area": _("Area"), "Parcels": _("Parcels"),
         "Addresses": _("Addresses"), "None.": _("None."), "Generated": _("Generated"),
         "in force from": _("in force from"), "Waterworks": _("Waterworks"), "Supply zone": _("Supply zone"),
         "Sampling point": _("Sampling point"), "Asked": _("Asked")}

    def p(text: str, style=body) -> None:
        out.append(Paragraph(escape(str(text)), style))

    def source(section: dict) -> None:
        k = section.get("kjelde") or {}
        title = (k.get("tittel") or {}).get(lang) or k.get("datasett", "")
        p(f"{t['Source']}: {title}, {kommune_namn}. {t['Updated']}: {(k.get('dato') or '–')[:10]}", small)

    def table(rows: list[list], widths: list[float]) -> None:
        if len(rows) <= 1:
            p(_("None."))
            return
        t = Table([[Paragraph(escape(str(v if v is not None else "")), small) for v in row] for row in rows],
                  colWidths=[w * mm for w in widths], repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        out.append(t)

    e = report["eigedom"]
    p(f"{t['Property report']} {e['gnr']}/{e['bnr']} – {kommune_namn}", h1)
    p(f"{t['Cadastral number']}: {e['matrikkelnummer']} · {t['Area']}: {e['areal_m2']:.0f} m² · "
      f"{t['Parcels']}: {len(e['teigar'])}")
    p(f"{t['Addresses']}: {', '.join(a['adressetekst'] for a in e['adresser']) or t['None.']}")
    p(f"{t['Generated']}: {report['generert'][:16].replace('T', ' ')} UTC", small)
    if img := render_map(wms, "eigedomar-teig", geom, crs):
        out.append(MapFigure(img, geom))
        source(e)

    plans = report["planar"]
    p(_("Plans that apply to this property"), h2)
    if img := render_map(wms, "reguleringsplanar-arealformal,eigedomar-teig", geom, crs):
        out.append(MapFigure(img, geom))
    for plan in plans["gjeldande"]:
        p(f"{plan['plannavn']} ({plan['planidentifikasjon']}, {plan['plantype_namn']}, "
          f"{t['in force from']} {plan['ikrafttredelsesdato'] or '–'})", styles["Heading4"])
        table([[_("Land use"), _("Field"), "m²", _("Share of property")]] +
              [[f"{r['arealformal']} {r['arealformal_namn']}", r["feltnavn"], f"{r['areal_m2']:.0f}",
                f"{r['del_av_teig'] * 100:.1f} %"] for r in plan["arealformal"]], [80, 30, 25, 35])
        if plan["hensynssoner"]:
            table([[_("Consideration zones"), "m²", _("Share of property")]] +
                  [[f"{r['sonenamn']} {r['hensynsnamn']}", f"{r['areal_m2']:.0f}",
                    f"{r['del_av_teig'] * 100:.1f} %"] for r in plan["hensynssoner"]], [110, 25, 35])
    if not plans["gjeldande"]:
        p(_("None."))
    p(_("Plans in progress overlapping the property"), styles["Heading3"])
    table([[_("Plan"), _("Status")]] + [[f"{x['plannavn']} ({x['planidentifikasjon']})", x["planstatus_namn"]]
                                        for x in plans["under_arbeid"]], [120, 50])
    p(_("Dispensations"), styles["Heading3"])
    table([[_("Date"), _("Case number"), _("Subject"), _("Decision")]] +
          [[d["vedtaksdato"], d["saksnummer"], d["tema"], d["vedtak"]] for d in plans["dispensasjonar"]],
          [25, 30, 85, 30])
    source(plans)

    p(_("Building cases"), h2)
    table([[_("Date"), _("Case number"), _("Title"), _("Status")]] +
          [[s["saksdato"], s["saksnummer"], s["tittel"], s["saksstatus"]] for s in report["byggesaker"]["saker"]],
          [25, 30, 85, 30])
    source(report["byggesaker"])

    w = report["drikkevatn"]
    p(_("Drinking water"), h2)
    if w.get("provepunkt"):
        pp = w["provepunkt"]
        p(f"{t['Waterworks']}: {pp['vassverk']} · {t['Supply zone']}: {pp['forsyningssone']} · "
          f"{t['Sampling point']}: {pp['namn']} ({w['avstand_m']} m)")
        table([[_("Sampled"), _("Parameter"), _("Value"), _("Status")]] +
              [[r["provetaken"], r["parameter_namn"], f"{r['kvalifikator'] or ''}{r['verdi']} {r['eining']}",
                r["status"]] for r in w["siste_prove"]], [25, 60, 45, 40])
    else:
        p(_("None."))
    source(w)

    p(_("Neighbouring properties"), h2)
    p(", ".join(f"{n['gnr']}/{n['bnr']}" for n in report["naboeigedomar"]["eigedomar"]) or _("None."))
    source(report["naboeigedomar"])

    p(_("National hazard and heritage layers"), h2)
    for s in report["nasjonale_lag"]:
        title = s["tittel"].get(lang, s["id"])
        state = national_status(s["status"])
        hits = "; ".join(", ".join(f"{k}: {v}" for k, v in list(h["eigenskapar"].items())[:4])
                         for h in s["treff"][:5])
        verdict = (hits or _("No zones or sites found on the property.")) if s["status"] == "ok" else \
            _("Not known: the service {state}.").format(state=state)
        p(f"{title}: {verdict}")
        p(f"{t['Source']}: {s['eigar']}, {s['url']} ({', '.join(s['lag'])}). {t['Asked']}: {s['henta'][:16]}"
          .replace("T", " "), small)

    if "va_nett" in report:
        va = report["va_nett"]
        p(_("Water and sewer network near the property"), h2)
        if img := render_map(wms_restricted, "va_nett-ledning,va_nett-punkt", geom, crs):
            out.append(MapFigure(img, geom))
        table([[_("Type"), _("Dimension"), _("Material"), _("Year"), _("Accuracy (cm)"), "m"]] +
              [[x["objekttype"], x["dimensjon"], x["material_namn"], x["anleggsar"], x["noyaktigheit_cm"],
                x["avstand_m"]] for x in va["ledning"][:60]], [50, 20, 35, 15, 25, 15])
        source(va)

    p(_("Caveats"), h2)
    for c in report["atterhald"]:  # worded in the reader's language (property.py)
        p(f"• {c['tekst']}")

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=f"{t['Property report']} {e['gnr']}/{e['bnr']}",
                            author=f"grunndata for {kommune_namn}")
    out.insert(0, Spacer(0, 0))
    doc.build(out)
    return buf.getvalue()
