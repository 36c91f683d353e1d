"""VA-nett delivered as GML: SOSI-VA style (the export's own attribute names: sid, l_tema, dimensjon, ...) and
FKB-Ledning 4.6 style (ledningstype, materiale, Posisjonskvalitet) application schemas -> the same records as the
SOSI and GeoPackage readers of pipelines/va.py.

Attribute names are data (pipelines/data/va_gml_felt.csv). Coordinates keep their height (srsDimension 3). A
feature type outside the VA model (neither a pipe with VA attributes nor a point with a theme or SID) is counted and
reported once per type, not a crash.
"""

from __future__ import annotations

import csv
from collections import Counter
from functools import cache, lru_cache
from pathlib import Path

import pyproj
from lxml import etree
from shapely.geometry import LineString, Point

from .report import Report

GML_NS = ("http://www.opengis.net/gml/3.2", "http://www.opengis.net/gml")
_DATA = Path(__file__).parent / "data"
LINE_KEYS = {"L_TEMA", "DIMENSJON", "MATERIAL", "FSID", "TSID", "NETTYPE"}
POINT_KEYS = {"P_TEMA", "SID", "FUNKSJON"}


@cache
def field_names() -> dict[str, str]:
    with open(_DATA / "va_gml_felt.csv", encoding="utf-8") as fh:
        return {r["gml_namn"].lower(): r["va_felt"] for r in csv.DictReader(fh)}


@lru_cache(maxsize=32)
def _crs_dimension(srs_name: str) -> int | None:
    """Axes of an srsName's CRS (3 for a compound CRS with heights such as EPSG:5972), None when unknown."""
    try:
        return len(pyproj.CRS.from_user_input(srs_name).axis_info) or None
    except pyproj.exceptions.CRSError:
        return None


def _dimension(pl: etree._Element, n_values: int) -> int:
    """GML 3.2: srsDimension on the position or an enclosing element; else the srsName CRS's axes; else a lone
    gml:pos tells by its count; else 2."""
    chain = (pl, *pl.iterancestors())
    given = next((a.get("srsDimension") for a in chain if a.get("srsDimension")), None)
    if given is not None:
        return int(given)
    srs = next((a.get("srsName") for a in chain if a.get("srsName")), None)
    by_crs = _crs_dimension(srs) if srs else None
    if by_crs in (2, 3):
        return by_crs
    return n_values if etree.QName(pl).localname == "pos" and n_values in (2, 3) else 2


def _positions(el: etree._Element) -> list[tuple[float, ...]]:
    out: list[tuple[float, ...]] = []
    for pl in el.iter():
        if not isinstance(pl.tag, str) or etree.QName(pl).localname not in ("posList", "pos"):
            continue
        values = [float(v) for v in (pl.text or "").split()]
        dim = _dimension(pl, len(values))
        if len(values) % dim:
            raise ValueError(f"{len(values)} numbers do not make {dim}-D positions")
        for i in range(0, len(values), dim):
            pos = tuple(values[i:i + dim])
            if not out or out[-1] != pos:
                out.append(pos)
    if len({len(p) for p in out}) > 1:  # 2-D and 3-D parts in one geometry: its heights are incomplete, drop them
        out = [p[:2] for p in out]
    return out


def _geometry(el: etree._Element):
    name = etree.QName(el).localname
    pts = _positions(el)
    if name == "Point" and pts:
        return Point(pts[0])
    if name in ("LineString", "Curve", "MultiCurve", "CompositeCurve") and len(pts) >= 2:
        return LineString(pts)
    return None


def records_from_gml(path: Path, report: Report) -> tuple[list[dict], list[dict]]:
    names = field_names()
    lines: list[dict] = []
    points: list[dict] = []
    outside: Counter = Counter()
    serial = 0
    for _, el in etree.iterparse(str(path), events=("end",), resolve_entities=False, no_network=True,
                                 huge_tree=True):
        parent = el.getparent()
        if parent is None or etree.QName(parent).localname not in ("featureMember", "featureMembers", "member") \
                or etree.QName(el).namespace in GML_NS:
            continue
        serial += 1
        objtype = etree.QName(el).localname
        rec: dict = {"OBJTYPE": objtype, "_line": el.sourceline, "_serial": serial}
        geom = None
        quality: dict[str, str] = {}
        for node in el.iter():
            if not isinstance(node.tag, str) or node is el:
                continue
            q = etree.QName(node)
            if q.namespace in GML_NS:
                if geom is None and q.localname in ("Point", "LineString", "Curve", "MultiCurve"):
                    try:
                        geom = _geometry(node)
                    except ValueError as exc:
                        report.error("koordinatar", f"{objtype}: {exc}", path, node.sourceline)
                continue
            if len(node) or not (node.text or "").strip():
                continue
            key = names.get(q.localname.lower())
            if key and key.startswith("KVALITET."):
                quality[key] = node.text.strip()
            elif key and key not in rec:
                rec[key] = node.text.strip()
        if quality:
            rec["KVALITET"] = " ".join(quality.get(k, "") for k in ("KVALITET.METODE", "KVALITET.NØYAKTIGHET"))
        is_line = isinstance(geom, LineString) and LINE_KEYS & rec.keys()
        is_point = isinstance(geom, Point) and POINT_KEYS & rec.keys()
        if is_line:
            rec["geometry"] = geom
            lines.append(rec)
        elif is_point:
            rec["geometry"] = geom
            points.append(rec)
        else:
            outside[objtype] += 1
        el.clear()
    for objtype, n in outside.most_common():
        report.warning("utanfor-va-modellen", f"{n} {objtype} object(s) are not VA pipes or points (no VA "
                       "attributes); counted, not imported", path, None, objtype)
    report.counts["utanfor_va_modellen"] = sum(outside.values())
    if not lines and not points:
        report.error("ikkje-va-eksport", "no VA pipes or points in the GML (see pipelines/data/va_gml_felt.csv "
                     "for the attribute names read)", path)
    return lines, points
