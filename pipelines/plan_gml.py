"""Plan 5.0 GML (Reguleringsplanforslag / Arealplan application schemas) -> plan features.

Hand-written with lxml rather than GDAL's GML driver because the rules need what a generic reader
drops: the srsName of every geometry (a file may mix them), xlink:href between features, the line of
each feature for the report, and GML arcs densified the same way as SOSI .BUEP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from grunndata.errors import GrunndataError

from . import gml_rules
from .sosi import arc

GML = "http://www.opengis.net/gml/3.2"
XLINK = "http://www.w3.org/1999/xlink"
PLAN_NAMESPACES = (
    "http://skjema.geonorge.no/SOSI/produktspesifikasjon/Reguleringsplanforslag/",
    "http://skjema.geonorge.no/SOSI/produktspesifikasjon/Arealplan/",
    "https://skjema.geonorge.no/SOSI/produktspesifikasjon/Reguleringsplanforslag/",
    "https://skjema.geonorge.no/SOSI/produktspesifikasjon/Arealplan/",
)
_EPSG = re.compile(r"(?:EPSG/0/|EPSG::?|epsg:)(\d+)$", re.I)
_G = f"{{{GML}}}"


class GmlError(GrunndataError):
    """A GML plan file that cannot be read; the message names file, line and rule."""


@dataclass
class GmlFeature:
    objtype: str
    gml_id: str
    line: int
    attrs: dict[str, str] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)  # property -> referenced gml:ids
    geometry: BaseGeometry | None = None
    epsg: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


@dataclass
class GmlPlanFile:
    path: Path
    namespace: str
    features: list[GmlFeature]
    findings: list[gml_rules.RuleFinding] = field(default_factory=list)  # DiBK's GML rules

    @property
    def epsg(self) -> set[int]:
        return set().union(*(f.epsg for f in self.features)) if self.features else set()


def _epsg(srs: str | None, path: Path, line: int) -> int | None:
    if srs is None:
        return None
    m = _EPSG.search(srs.strip())
    return int(m.group(1)) if m else None  # gml.epsg.1/2 report an srsName that names no EPSG code


def _poslist(el: etree._Element, path: Path) -> list[tuple[float, ...]]:
    dim = int(el.get("srsDimension") or el.getparent().get("srsDimension") or _inherited_dim(el) or 2)
    try:
        values = [float(v) for v in (el.text or "").split()]
    except ValueError:
        raise GmlError(f"{path}:{el.sourceline}: {etree.QName(el).localname} holds a non-number "
                       "(rule: koordinatar)") from None
    if len(values) % dim:
        raise GmlError(f"{path}:{el.sourceline}: {len(values)} numbers do not make {dim}-D positions")
    return [tuple(values[i:i + dim]) for i in range(0, len(values), dim)]


def _inherited_dim(el: etree._Element) -> str | None:
    for anc in el.iterancestors():
        if anc.get("srsDimension"):
            return anc.get("srsDimension")
    return None


def _points(el: etree._Element, path: Path) -> list[tuple[float, ...]]:
    pl = el.find(f"{_G}posList")
    if pl is not None:
        return _poslist(pl, path)
    return [p for pos in el.findall(f"{_G}pos") for p in _poslist(pos, path)]


def _curve_coords(el: etree._Element, path: Path) -> list[tuple[float, ...]]:
    """LineString, Curve (LineStringSegment / Arc segments), LinearRing, Ring (curveMember)."""
    tag = etree.QName(el).localname
    if tag in ("LineString", "LinearRing", "LineStringSegment"):
        return _points(el, path)
    if tag in ("Arc", "ArcString"):
        pts = _points(el, path)
        out: list[tuple[float, ...]] = []
        for i in range(0, len(pts) - 2, 2):
            seg = arc(pts[i], pts[i + 1], pts[i + 2])
            out.extend(seg if not out else seg[1:])
        return out
    if tag == "Curve":
        out = []
        for seg in el.find(f"{_G}segments"):
            part = _curve_coords(seg, path)
            out.extend(part if not out or out[-1][:2] != part[0][:2] else part[1:])
        return out
    if tag == "Ring":
        out = []
        for member in el.findall(f"{_G}curveMember"):
            part = _curve_coords(member[0], path)
            out.extend(part if not out or out[-1][:2] != part[0][:2] else part[1:])
        return out
    raise GmlError(f"{path}:{el.sourceline}: unsupported curve type gml:{tag} (rule: geometri)")


def ring_coords(el: etree._Element, path: Path | None = None) -> list[tuple[float, float]]:
    """A LinearRing or Ring as 2-D coordinates (arcs densified as everywhere else)."""
    return [c[:2] for c in _curve_coords(el, path or Path("?"))]


def _polygon(el: etree._Element, path: Path) -> Polygon:
    ext = el.find(f"{_G}exterior")
    if ext is None:
        raise GmlError(f"{path}:{el.sourceline}: gml:Polygon without gml:exterior (rule: flate)")
    shell = [c[:2] for c in _curve_coords(ext[0], path)]
    holes = [[c[:2] for c in _curve_coords(i[0], path)] for i in el.findall(f"{_G}interior")]
    return Polygon(shell, holes)


def geometry(el: etree._Element, path: Path) -> BaseGeometry:
    tag = etree.QName(el).localname
    if tag == "Point":
        return Point(_points(el, path)[0][:2])
    if tag in ("LineString", "Curve"):
        return LineString([c[:2] for c in _curve_coords(el, path)])
    if tag in ("Polygon", "Surface"):
        if tag == "Surface":
            patches = el.find(f"{_G}patches")
            polys = [_polygon(p, path) for p in patches]
            return polys[0] if len(polys) == 1 else MultiPolygon(polys)
        return _polygon(el, path)
    if tag == "MultiSurface":
        polys = [_polygon(m[0], path) if etree.QName(m[0]).localname == "Polygon" else geometry(m[0], path)
                 for m in el.findall(f"{_G}surfaceMember")]
        return polys[0] if len(polys) == 1 else MultiPolygon(polys)
    if tag in ("TriangulatedSurface", "Tin"):
        return MultiPolygon([_polygon(t, path) for t in el.find(f"{_G}patches")])
    raise GmlError(f"{path}:{el.sourceline}: unsupported geometry gml:{tag} (rule: geometri)")


def read_plan_gml(path: Path | str) -> GmlPlanFile:
    path = Path(path)
    try:
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as exc:
        raise GmlError(f"{path}:{exc.lineno}: not well-formed XML ({exc.msg}) (rule: xml)") from None
    root = tree.getroot()
    members = [m for tag in ("featureMember", "featureMembers", "member")
               for holder in root.iter(f"{_G}{tag}") for m in holder]
    if not members:
        raise GmlError(f"{path}:{root.sourceline}: no gml:featureMember (rule: gml-struktur)",
                       hint="expected a gml:FeatureCollection of Plan 5.0 features")
    namespace = etree.QName(members[0]).namespace or ""
    if not namespace.startswith(PLAN_NAMESPACES):
        raise GmlError(f"{path}:{members[0].sourceline}: namespace '{namespace}' is not a Plan 5.0 application "
                       "schema (rule: skjema)", hint="expected Reguleringsplanforslag/5.0 or Arealplan/5.0")
    rule_findings = gml_rules.check(root, path)
    features = []
    for m in members:
        f = GmlFeature(etree.QName(m).localname, m.get(f"{_G}id") or "", m.sourceline)
        for prop in m:
            if not isinstance(prop.tag, str):
                continue
            name = etree.QName(prop).localname
            href = prop.get(f"{{{XLINK}}}href")
            if href:
                f.links.setdefault(name, []).append(href.lstrip("#"))
                continue
            child = prop[0] if len(prop) else None
            if child is not None and etree.QName(child).namespace == GML:
                try:
                    f.geometry = geometry(child, path)
                except Exception as exc:  # noqa: BLE001 - a defect in one geometry is a finding, not an abort
                    f.problems.append(f"gml:{etree.QName(child).localname} cannot be read: {exc}")
                    if not any(r.gml_id == f.gml_id for r in rule_findings):
                        surface = etree.QName(child).localname in ("Polygon", "Surface", "MultiSurface")
                        rule_findings.append(gml_rules.RuleFinding(
                            "gml.flate.1" if surface else "gml.kurve.1", f"{f.objtype} '{f.gml_id}': "
                            f"{f.problems[-1]}", child.sourceline, f.gml_id))
                inherited = next((a.get("srsName") for a in child.iterancestors() if a.get("srsName")), None)
                names = {el.get("srsName") for el in child.iter() if isinstance(el.tag, str) and el.get("srsName")}
                for srs in names or {inherited}:
                    code = _epsg(srs, path, child.sourceline)
                    if code:
                        f.epsg.add(code)
                continue
            _leaves(prop, name, f.attrs)
        features.append(f)
    if not any(f.epsg for f in features):
        env = root.find(f"{_G}boundedBy/{_G}Envelope")
        code = _epsg(env.get("srsName") if env is not None else None, path, root.sourceline)
        for f in features:
            if f.geometry is not None and code:
                f.epsg.add(code)
    return GmlPlanFile(path, namespace, features, rule_findings)


def _leaves(el: etree._Element, name: str, out: dict[str, str]) -> None:
    """Leaf text under a property, keyed by the leaf's local name (identifikasjon/lokalId -> lokalId)."""
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        text = (el.text or "").strip()
        if text:
            out[name] = text
        return
    for c in children:
        _leaves(c, etree.QName(c).localname, out)
