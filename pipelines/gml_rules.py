"""DiBK's general GML geometry rules (Arkitektum DiBK.RuleValidator.Rules.Gml) on a parsed GML document.

Rule ids, scope and thresholds as DiBK publishes them (Setup.cs: EPSG 25832/25833/25835 for 2-D and
5972/5973/5975 for 3-D maps; gml.bue.2: an arc whose sagitta is under 2 cm is a straight line). DiBK reports
every one of them as an error (its default message type) except gml.enhet.1 (a warning), so do we. Each finding
names the line and the gml:id of the feature, and a defect inside geometry code becomes a finding, never an
exception.

    gml.xlink.1  references between objects work (`file#id` form, target present)
    gml.gmlid.1  every gml:id in the dataset is unique
    gml.uuid.1   identifikasjon/lokalId is a valid UUID, and unique
    gml.epsg.1   coordinate reference system for 2-D maps (srsName on the envelope or on every geometry)
    gml.epsg.2   coordinate reference system for 3-D maps
    gml.kurve.1  curves have valid geometry (segments that join, at least two points)
    gml.kurve.2  curves have no double points (two consecutive equal positions)
    gml.bue.1    an arc has exactly three points and no double points
    gml.bue.2    the points of an arc do not lie on a straight line
    gml.flate.2  the boundary of a surface does not cross itself
    gml.flate.3  exterior counter-clockwise, interiors clockwise
    gml.flate.4  holes lie inside the exterior
    gml.flate.5  holes do not overlap other holes of the same surface
    gml.avgr.1   the curves a surface is `avgrensesAv` (bounded by) give the same boundary as the surface
    gml.enhet.1  coordinates at centimetre resolution, at most two decimals (a warning, as DiBK has it)
gml.flate.1 (surfaces have valid geometry) is judged in plan_model.check_polygon, where --repair acts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import shapely
from lxml import etree
from shapely.geometry import LinearRing, LineString, Polygon

from .plan_rules import rules

GML = "http://www.opengis.net/gml/3.2"
XLINK = "http://www.w3.org/1999/xlink"
_G = f"{{{GML}}}"
_HREF = f"{{{XLINK}}}href"
_GMLID = f"{_G}id"
_SRS = re.compile(r"^(?:http://www\.opengis\.net/def/crs/EPSG/0/|urn:ogc:def:crs:EPSG::)(\d+)$")
_TWO_DECIMALS = re.compile(r"^-?\d+(\.\d{1,2})?$")
_UUID = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$", re.I)
EPSG_2D = (25832, 25833, 25835)
EPSG_3D = (5972, 5973, 5975)
MIN_SAGITTA_M = 0.02
TOLERANCE_M = 0.001  # gml.avgr.1: boundaries equal within 1 mm (arcs are densified the same way on both sides)

# id -> (severity as DiBK gives it, DiBK's name), from the one rule table pipelines/data/plan_rules.yml
RULES = {r.id: (r.severity, r.namn) for r in rules().values() if r.id.startswith("gml.")}


@dataclass(frozen=True)
class RuleFinding:
    rule: str
    message: str
    line: int | None
    gml_id: str | None

    @property
    def severity(self) -> str:
        return RULES[self.rule][0]


class _Bad(ValueError):
    pass


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _dim(el: etree._Element) -> int:
    for node in (el, *el.iterancestors()):
        if node.get("srsDimension"):
            try:
                return int(node.get("srsDimension"))
            except ValueError:
                raise _Bad(f"srsDimension '{node.get('srsDimension')}' is not a number") from None
    return 2


def positions(el: etree._Element) -> list[tuple[float, ...]]:
    """The positions of a LineString, LineStringSegment, Arc, LinearRing (posList, pos or coordinates)."""
    out: list[tuple[float, ...]] = []
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = _local(child)
        if name in ("posList", "pos"):
            dim = int(child.get("srsDimension") or _dim(child))
            try:
                values = [float(v) for v in (child.text or "").split()]
            except ValueError:
                raise _Bad(f"gml:{name} holds a non-number") from None
            if len(values) % dim:
                raise _Bad(f"gml:{name}: {len(values)} numbers do not make {dim}-D positions")
            out.extend(tuple(values[i:i + dim]) for i in range(0, len(values), dim))
        elif name == "pointProperty":
            pos = child.find(f".//{_G}pos")
            if pos is not None:
                out.extend(tuple(float(v) for v in (pos.text or "").split()) for _ in [0])
    return out


class _Checker:
    def __init__(self, root: etree._Element, path: Path) -> None:
        self.root, self.path = root, path
        self.findings: list[RuleFinding] = []
        self.members = [m for tag in ("featureMember", "featureMembers", "member")
                        for holder in root.iter(f"{_G}{tag}") for m in holder if isinstance(m.tag, str)]
        self.three_d = any(e.get("srsDimension") == "3" for e in root.iter() if isinstance(e.tag, str))

    def add(self, rule: str, message: str, el: etree._Element | None, feature: etree._Element | None) -> None:
        fid = feature.get(_GMLID) if feature is not None else None
        what = f"{_local(feature)} '{fid}': " if feature is not None else ""
        self.findings.append(RuleFinding(rule, what + message, el.sourceline if el is not None else None, fid))

    def run(self) -> list[RuleFinding]:
        self.gmlid()
        self.uuid()
        self.xlink()
        self.epsg()
        for feature in self.members:
            for el in feature.iter():
                if not isinstance(el.tag, str) or etree.QName(el).namespace != GML:
                    continue
                try:
                    self.geometry_element(el, feature)
                except Exception as exc:  # noqa: BLE001 - any failure in geometry code is a finding
                    rule = "gml.flate.2" if _local(el) in ("Polygon", "PolygonPatch") else "gml.kurve.1"
                    self.add(rule, f"gml:{_local(el)} cannot be read: {exc}", el, feature)
        self.avgr()
        self.enhet()
        return self.findings

    def enhet(self) -> None:
        seen: set[str | None] = set()
        for feature in self.members:
            for el in feature.iter(f"{_G}pos", f"{_G}posList"):
                if all(_TWO_DECIMALS.match(v) for v in (el.text or "").split()):
                    continue
                owner = next((a for a in el.iterancestors() if a.get(_GMLID)), feature)
                if owner.get(_GMLID) in seen:
                    continue
                seen.add(owner.get(_GMLID))
                self.add("gml.enhet.1", f"gml:{_local(owner)} '{owner.get(_GMLID)}' has coordinates finer than "
                         "centimetres (at most 2 decimals; ENHET 0.01)", el, feature)

    # -- identity and references ---------------------------------------------------------------
    def gmlid(self) -> None:
        ids = Counter(e.get(_GMLID) for e in self.root.iter() if isinstance(e.tag, str) and e.get(_GMLID))
        for el in self.root.iter():
            if isinstance(el.tag, str) and ids.get(el.get(_GMLID), 0) > 1:
                self.findings.append(RuleFinding(
                    "gml.gmlid.1", f"GML-ID '{el.get(_GMLID)}' of {_local(el)} occurs {ids[el.get(_GMLID)]} times",
                    el.sourceline, el.get(_GMLID)))

    def uuid(self) -> None:
        seen: set[str] = set()
        for feature in self.members:
            for ident in feature.iter():
                if not isinstance(ident.tag, str) or _local(ident) != "identifikasjon":
                    continue
                for el in ident.iter():
                    if not isinstance(el.tag, str) or _local(el) != "lokalId":
                        continue
                    value = (el.text or "").strip()
                    if not _UUID.match(value):
                        self.add("gml.uuid.1", f"lokalId '{value}' is not a valid UUID", el, feature)
                    elif value in seen:
                        self.add("gml.uuid.1", f"lokalId '{value}' is used more than once; it must be unique",
                                 el, feature)
                    else:
                        seen.add(value)

    def xlink(self) -> None:
        """A '#id' reference resolves in this file or in another GML file beside it (a plan delivered as a 2-D
        file and its 3-D companion); 'file#id' in the named file beside it."""
        own = {e.get(_GMLID) for e in self.root.iter() if isinstance(e.tag, str) and e.get(_GMLID)}
        others: dict[str, set[str] | None] = {}
        for feature in self.members:
            for el in feature.iter():
                if not isinstance(el.tag, str) or el.get(_HREF) is None:
                    continue
                parts = el.get(_HREF).split("#")
                if len(parts) != 2:
                    self.add("gml.xlink.1", f"the reference {_local(el)} '{el.get(_HREF)}' has an invalid form "
                             "(expected '#id' or 'file#id')", el, feature)
                    continue
                file, target = parts
                if not file.strip() or file == self.path.name:
                    found = target in own or any(target in (self._ids_of(p.name, others) or ())
                                                 for p in self._siblings())
                else:
                    found = target in (self._ids_of(file, others) or ())
                if not found:
                    where = f"in {file}" if file.strip() else "in the file or a GML file beside it"
                    self.add("gml.xlink.1", f"the reference {_local(el)} '#{target}' does not work (no such gml:id "
                             f"{where})", el, feature)

    def _siblings(self) -> list[Path]:
        if not hasattr(self, "_sibling_list"):
            folder = self.path.parent
            self._sibling_list = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".gml"
                                        and p.name != self.path.name) if folder.is_dir() else []
        return self._sibling_list

    def _ids_of(self, file: str, cache: dict[str, set[str] | None]) -> set[str] | None:
        if file not in cache:
            other = self.path.parent / Path(file).name
            try:
                tree = etree.parse(str(other), etree.XMLParser(resolve_entities=False, no_network=True,
                                                               huge_tree=True))
                cache[file] = {e.get(_GMLID) for e in tree.iter() if isinstance(e.tag, str) and e.get(_GMLID)}
            except (OSError, etree.XMLSyntaxError):
                cache[file] = None
        return cache[file]

    # -- coordinate reference system -----------------------------------------------------------
    def epsg(self) -> None:
        rule, allowed = ("gml.epsg.2", EPSG_3D) if self.three_d else ("gml.epsg.1", EPSG_2D)
        allowed_text = ", ".join(map(str, allowed))
        codes: set[int] = set()
        env_ok = False
        env = self.root.find(f"{_G}boundedBy/{_G}Envelope")
        if env is not None:
            srs = env.get("srsName")
            if srs is None:
                self.findings.append(RuleFinding(rule, "gml:Envelope has no srsName (coordinate reference system)",
                                                 env.sourceline, None))
            else:
                code = _code(srs)
                if code not in allowed:
                    self.findings.append(RuleFinding(rule, f"gml:Envelope: coordinate system '{srs}' is not an "
                                                     f"approved EPSG code ({allowed_text})", env.sourceline, None))
                else:
                    env_ok = True
                    codes.add(code)
        for feature in self.members:
            for el in feature.iter():
                if not isinstance(el.tag, str) or etree.QName(el).namespace != GML or el.get(_GMLID) is None:
                    continue
                srs = el.get("srsName")
                if srs is None:
                    if not env_ok and not any(a.get("srsName") for a in el.iterancestors()):
                        self.add(rule, f"gml:{_local(el)} '{el.get(_GMLID)}' has no srsName and the file's envelope "
                                 "names no valid coordinate system", el, feature)
                    continue
                code = _code(srs)
                if code not in allowed:
                    self.add(rule, f"gml:{_local(el)}: coordinate system '{srs}' is not an approved EPSG code "
                             f"({allowed_text})", el, feature)
                else:
                    codes.add(code)
        if len(codes) > 1:
            self.findings.append(RuleFinding(rule, "the geometries use different coordinate systems: "
                                             + ", ".join(f"EPSG:{c}" for c in sorted(codes)), None, None))

    # -- curves, arcs, surfaces ----------------------------------------------------------------
    def geometry_element(self, el: etree._Element, feature: etree._Element) -> None:
        name = _local(el)
        if name in ("LineString", "LineStringSegment", "LinearRing"):
            pts = positions(el)
            if len(pts) < 2:
                self.add("gml.kurve.1", f"gml:{name} has {len(pts)} position(s); a curve needs at least two", el,
                         feature)
            keydim = 3 if self.three_d else 2
            for i in range(1, len(pts)):
                if pts[i][:keydim] == pts[i - 1][:keydim]:
                    self.add("gml.kurve.2", f"gml:{name} has a double point at position {i + 1} "
                             f"({' '.join(f'{v:g}' for v in pts[i][:keydim])})", el, feature)
        elif name == "Curve":
            self.curve(el, feature)
        elif name in ("Arc", "ArcString"):
            self.arcs(el, feature)
        elif name in ("Polygon", "PolygonPatch"):
            self.surface(el, feature)

    def curve(self, el: etree._Element, feature: etree._Element) -> None:
        segments = el.find(f"{_G}segments")
        if segments is None or not len(segments):
            self.add("gml.kurve.1", "gml:Curve has no segments", el, feature)
            return
        previous = None
        for seg in segments:
            if not isinstance(seg.tag, str):
                continue
            pts = positions(seg)
            if not pts:
                self.add("gml.kurve.1", f"gml:Curve: a {_local(seg)} without positions", seg, feature)
                return
            if previous is not None and math.dist(previous[:2], pts[0][:2]) > TOLERANCE_M:
                self.add("gml.kurve.1", f"gml:Curve: segment {_local(seg)} does not start where the one before "
                         "it ends", seg, feature)
            previous = pts[-1]

    def arcs(self, el: etree._Element, feature: etree._Element) -> None:
        pts = positions(el)
        name = _local(el)
        if name == "Arc" and len(pts) != 3:
            self.add("gml.bue.1", f"gml:Arc has {len(pts)} points; an arc has exactly three", el, feature)
            return
        if name == "ArcString" and (len(pts) < 3 or len(pts) % 2 == 0):
            self.add("gml.bue.1", f"gml:ArcString has {len(pts)} points; it needs 3, 5, 7, ...", el, feature)
            return
        for i in range(0, len(pts) - 2, 2):
            p1, p2, p3 = (p[:2] for p in pts[i:i + 3])
            if len({p1, p2, p3}) < 3:
                self.add("gml.bue.1", "an arc is computed from three points and cannot have double points", el,
                         feature)
                continue
            sagitta = _sagitta(p1, p2, p3)
            if sagitta < MIN_SAGITTA_M:
                self.add("gml.bue.2", f"the points of the arc lie on a straight line (sagitta {sagitta:.3f} m < "
                         f"{MIN_SAGITTA_M} m): it should be a curve", el, feature)

    def surface(self, el: etree._Element, feature: etree._Element) -> None:
        from .plan_gml import ring_coords  # the reader's own ring builder (arcs densified the same way)

        ext = el.find(f"{_G}exterior")
        if ext is None or not len(ext):
            self.add("gml.flate.2", f"gml:{_local(el)} has no gml:exterior", el, feature)
            return
        rings = [(ext, ring_coords(ext[0]))]
        rings += [(i, ring_coords(i[0])) for i in el.findall(f"{_G}interior") if len(i)]
        for holder, coords in rings:
            if len(coords) < 4 or coords[0] != coords[-1]:
                self.add("gml.flate.2", f"the {_local(holder)} ring of gml:{_local(el)} is not closed "
                         f"({len(coords)} positions)", holder, feature)
                return
            if not LineString(coords).is_simple:
                self.add("gml.flate.2", f"the {_local(holder)} boundary of gml:{_local(el)} crosses itself", holder,
                         feature)
        shell = LinearRing(rings[0][1])
        if not shell.is_ccw:
            self.add("gml.flate.3", "the exterior goes clockwise; it must go counter-clockwise", rings[0][0], feature)
        outer = Polygon(rings[0][1])
        holes = []
        for holder, coords in rings[1:]:
            if LinearRing(coords).is_ccw:
                self.add("gml.flate.3", "an interior goes counter-clockwise; it must go clockwise", holder, feature)
            hole = Polygon(coords)
            if not outer.buffer(TOLERANCE_M).contains(hole):
                self.add("gml.flate.4", "a hole lies (partly) outside the exterior", holder, feature)
            for other in holes:
                if hole.intersection(other).area > TOLERANCE_M ** 2:
                    self.add("gml.flate.5", "a hole overlaps another hole of the same surface", holder, feature)
                    break
            holes.append(hole)

    def avgr(self) -> None:
        from .plan_gml import geometry as read_geometry

        by_id = {m.get(_GMLID): m for m in self.members if m.get(_GMLID)}
        for feature in self.members:
            groups: dict[str, list[etree._Element]] = {}
            for prop in feature:
                if isinstance(prop.tag, str) and _local(prop).startswith("avgrensesAv"):
                    groups.setdefault(_local(prop), []).append(prop)
            if not groups:
                continue
            surface = _feature_geometry(feature, read_geometry, self.path)
            if surface is None or surface.geom_type not in ("Polygon", "MultiPolygon") or not surface.is_valid:
                continue
            boundary = shapely.force_2d(surface.boundary)
            for name, props in groups.items():
                lines = []
                for prop in props:
                    target = (prop.get(_HREF) or "").partition("#")[2]
                    other = by_id.get(target)
                    geom = _feature_geometry(other, read_geometry, self.path) if other is not None else None
                    if geom is not None:
                        lines.append(shapely.force_2d(geom))
                union = shapely.union_all(lines) if lines else None
                if union is None or union.is_empty or \
                        union.difference(boundary.buffer(TOLERANCE_M)).length > TOLERANCE_M or \
                        boundary.difference(union.buffer(TOLERANCE_M)).length > TOLERANCE_M:
                    self.add("gml.avgr.1", f"the boundary given by {name} ({len(props)} reference(s)) does not match "
                             "the surface's geometry", feature, feature)


def _feature_geometry(feature: etree._Element, read_geometry, path: Path):
    for prop in feature:
        if isinstance(prop.tag, str) and len(prop) and isinstance(prop[0].tag, str) \
                and etree.QName(prop[0]).namespace == GML:
            try:
                return read_geometry(prop[0], path)
            except Exception:  # noqa: BLE001 - reported by the geometry rules; here it just cannot be compared
                return None
    return None


def _code(srs: str) -> int | None:
    m = _SRS.match(srs.strip())
    return int(m.group(1)) if m else None


def _sagitta(p1: tuple[float, ...], p2: tuple[float, ...], p3: tuple[float, ...]) -> float:
    (x1, y1), (x2, y2), (x3, y3) = p1, p2, p3
    d = 2 * (x1 * (y2 - y3) + x2 * (y3 - y1) + x3 * (y1 - y2))
    if abs(d) < 1e-12:
        return 0.0
    ux = ((x1**2 + y1**2) * (y2 - y3) + (x2**2 + y2**2) * (y3 - y1) + (x3**2 + y3**2) * (y1 - y2)) / d
    uy = ((x1**2 + y1**2) * (x3 - x2) + (x2**2 + y2**2) * (x1 - x3) + (x3**2 + y3**2) * (x2 - x1)) / d
    r = math.hypot(x1 - ux, y1 - uy)
    half = math.dist((x1, y1), (x3, y3)) / 2
    return r - math.sqrt(max(0.0, r * r - half * half))


def check(root: etree._Element, path: Path) -> list[RuleFinding]:
    """Every rule above on one parsed document; never raises for bad geometry."""
    return _Checker(root, path).run()
