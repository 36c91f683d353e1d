"""SOSI and GML plans -> one plan model -> validated rows of the Plan 5.0 tables.

Both readers' objects are mapped onto Plan 5.0 attribute names here, so the rules and the tables
are written once. A file may hold several plans (grouped by NASJONALAREALPLANID).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import shapely
from pyproj import Transformer
from shapely.geometry import MultiLineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from grunndata.geometry import reproject

from .plan_codes import allowed_crs, arealformal, kodar, status_group
from .plan_gml import GmlPlanFile, read_plan_gml
from .plan_rules import add, check_coverage, check_inside, check_plan
from .plan_rules import significant as _significant  # under 1 m² or 5 cm thin: rounding, not reported
from .report import Report
from .sosi import NO_KOORDSYS_RULE, SosiFile, read_sosi

_SOSI_KEYS = {
    "NASJONALAREALPLANID.KOMM": "kommunenummer", "NASJONALAREALPLANID.PLANID": "planidentifikasjon",
    "PLANNAVN": "plannavn", "PLANTYPE": "plantype", "PLANSTAT": "planstatus", "LOVREFERANSE": "lovreferanse",
    "PLANBEST": "planbestemmelse", "IKRAFT": "ikrafttredelsesdato", "VEDTAKENDELIGPLANDATO": "vedtakendeligplandato",
    "KUNNGJØRINGSDATO": "kunngjoringsdato", "FORSLAGSSTILLERTYPE": "forslagsstillertype", "VERTNIV": "vertikalniva",
    "RPAREALFORMÅL": "arealformal", "EIERFORM": "eierform", "FELTNAVN": "feltnavn", "HENSYNSONENAVN": "sonenamn",
    "BESTEMMELSEOMRNAVN": "namn", "RPBESTEMMELSEHJEMMEL": "hjemmel", "RPJURLINJE": "kode", "RPJURPUNKT": "kode",
    "UTNTYP": "utnyttingstype", "UTNTALL": "utnyttingstall", "IDENT.LOKALID": "lokalid", "SAKSNR": "saksnummer",
    **{k: "hensynskode" for k in ("RPSIKRING", "RPSTØY", "RPFARE", "RPINFRASTRUKTUR", "RPANGITTHENSYN",
                                  "RPBÅNDLEGGING", "RPGJENNOMFØRING", "RPDETALJERING")},
}
_GML_KEYS = {
    "kommunenummer": "kommunenummer", "planidentifikasjon": "planidentifikasjon", "plannavn": "plannavn",
    "plantype": "plantype", "planstatus": "planstatus", "lovreferanse": "lovreferanse",
    "planbestemmelse": "planbestemmelse", "ikrafttredelsesdato": "ikrafttredelsesdato",
    "vedtakEndeligPlanDato": "vedtakendeligplandato", "kunngjøringsdato": "kunngjoringsdato",
    "forslagsstillerType": "forslagsstillertype", "vertikalnivå": "vertikalniva", "arealformål": "arealformal",
    "eierform": "eierform", "feltnavn": "feltnavn", "hensynSonenavn": "sonenamn", "tekststreng": "namn",
    "bestemmelseHjemmel": "hjemmel", "juridisklinje": "kode", "juridiskpunkt": "kode", "lokalId": "lokalid",
    "utnyttingstype": "utnyttingstype", "utnyttingstall": "utnyttingstall",
    **{k: "hensynskode" for k in ("sikring", "støy", "fare", "infrastruktur", "angittHensyn", "båndlegging",
                                  "gjennomføring", "detaljering")},
}
PLAN_KEYS = ("kommunenummer", "planidentifikasjon", "plannavn", "plantype", "planstatus", "lovreferanse",
             "planbestemmelse", "ikrafttredelsesdato", "vedtakendeligplandato", "kunngjoringsdato",
             "forslagsstillertype")
HENSYN_TYPES = {"RpSikringSone", "RpStøySone", "RpFareSone", "RpInfrastrukturSone", "RpAngittHensynSone",
                "RpBåndleggingSone", "RpGjennomføringSone", "RpDetaljeringSone"}
POINT_TYPES = {"RpJuridiskPunkt", "RpPåskrift"}


@dataclass
class PlanObject:
    objtype: str
    attrs: dict[str, str]
    geometry: BaseGeometry | None
    line: int | None
    local_id: str
    problems: list[str] = field(default_factory=list)
    gml_id: str | None = None  # GML: the feature's gml:id, named in geometry findings

    @property
    def table(self) -> str | None:
        if self.objtype == "RpOmråde":
            return "planomrade"
        if self.objtype == "RpArealformålOmråde":
            return "arealformal"
        if self.objtype in HENSYN_TYPES:
            return "hensynssone"
        if self.objtype == "RpBestemmelseOmråde":
            return "bestemmelsesomrade"
        if self.objtype in POINT_TYPES:
            return "planpunkt"
        if self.objtype.endswith("Grense") or self.objtype == "RpJuridiskLinje":
            return "planlinje"
        return None


@dataclass
class PlanInput:
    file: Path
    fmt: str
    epsg: set[int]
    plan: dict[str, str]
    objects: list[PlanObject]
    line: int | None = None
    read_errors: int = 0  # errors found while reading (DiBK's GML rules): the plan is not published

    @property
    def plan_id(self) -> str:
        return f"{self.plan.get('kommunenummer', '?')}_{self.plan.get('planidentifikasjon', '?')}"


# -- reading -----------------------------------------------------------------------------------
def read_plans(path: Path, report: Report) -> list[PlanInput]:
    suffix = path.suffix.lower()
    if suffix == ".sos":
        sosi = read_sosi(path)
        for note in sosi.notes:  # e.g. no KOORDSYS: objects counted, geometry not placed
            if note.startswith(NO_KOORDSYS_RULE):
                report.warning(NO_KOORDSYS_RULE, note.split(": ", 1)[1], path)
        return from_sosi(sosi)
    if suffix in (".gml", ".xml"):
        return [from_gml(read_plan_gml(path), report)]
    report.error("filtype", f"'{path.suffix}' is not a plan format (SOSI .sos or Plan 5.0 .gml)", path)
    return []


def _map(attrs: dict[str, str], keys: dict[str, str]) -> dict[str, str]:
    return {keys[k]: v for k, v in attrs.items() if k in keys and v not in ("", None)}


def from_sosi(sosi: SosiFile) -> list[PlanInput]:
    plans: dict[tuple[str, str], PlanInput] = {}
    orphans: list[PlanObject] = []
    for o in sosi.objects:
        if o.objtype is None:
            continue
        attrs = _map(o.flat(), _SOSI_KEYS)
        obj = PlanObject(o.objtype, attrs, o.geometry, o.line, attrs.get("lokalid") or str(o.id), o.problems)
        key = (attrs.get("kommunenummer", ""), attrs.get("planidentifikasjon", ""))
        if not all(key):
            orphans.append(obj)  # curves without NASJONALAREALPLANID belong to the file's plan
            continue
        plan = plans.setdefault(key, PlanInput(sosi.path, "SOSI", {sosi.epsg} if sosi.epsg else set(), {}, []))
        plan.objects.append(obj)
        if o.objtype == "RpOmråde" and not plan.plan.get("plannavn"):
            plan.plan = {k: v for k, v in attrs.items() if k in PLAN_KEYS}
            plan.line = o.line
    if not plans:
        plans[("", "")] = PlanInput(sosi.path, "SOSI", {sosi.epsg} if sosi.epsg else set(), {}, [])
    first = next(iter(plans.values()))
    first.objects.extend(orphans)
    for key, plan in plans.items():
        if not plan.plan:
            plan.plan = {"kommunenummer": key[0], "planidentifikasjon": key[1]}
    return list(plans.values())


def from_gml(gml: GmlPlanFile, report: Report) -> PlanInput:
    plan_attrs: dict[str, str] = {}
    line = None
    objects: list[PlanObject] = []
    for r in gml.findings:  # DiBK's GML rules (pipelines/gml_rules.py), with their ids and severities
        (report.error if r.severity == "error" else report.warning)(r.rule, r.message, gml.path, r.line, r.gml_id)
    read_errors = sum(r.severity == "error" for r in gml.findings)
    for f in gml.features:
        attrs = _map(f.attrs, _GML_KEYS)
        if f.objtype == "Arealplan":
            plan_attrs = {k: v for k, v in attrs.items() if k in PLAN_KEYS}
            line = f.line
            continue
        objects.append(PlanObject(f.objtype, attrs, f.geometry, f.line, attrs.get("lokalid") or f.gml_id,
                                  f.problems, f.gml_id))
    if line is None:
        add(report, "manglar-arealplan", "the file has no app:Arealplan feature", gml.path, None, None)
    return PlanInput(gml.path, "GML", gml.epsg, plan_attrs, objects, line, read_errors)


# -- validating and normalising ----------------------------------------------------------------
def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def _date(value: str | None) -> date | None | str:
    """YYYYMMDD (SOSI) or ISO (GML) -> date; '' -> None; anything else is returned for the report."""
    if not value:
        return None
    digits = re.sub(r"[^0-9]", "", value[:10])
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except (ValueError, IndexError):
        return value


def _polygonal(geom: BaseGeometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    polys = [p for g in parts for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
    return MultiPolygon(polys)


def check_polygon(obj: PlanObject, plan: PlanInput, report: Report, repair: bool = False) -> MultiPolygon | None:
    """Valid polygons pass. A hole outside its shell (gml.flate.4) and any other invalid surface (gml.flate.1) are
    errors, as DiBK has them; with `repair` an invalid surface is made valid instead and the area before and after
    is reported (a repair can change a surface a lot: a bow-tie loses half of it, a spike can grow it)."""
    where = f"{plan.plan_id} {obj.objtype} {obj.local_id}"
    geom = obj.geometry
    if geom is None or geom.is_empty:
        report.error("geometri-manglar", f"{where}: no surface ({'; '.join(obj.problems) or 'no geometry'})",
                     plan.file, obj.line, plan.plan_id)
        return None
    if shapely.get_coordinate_dimension(geom) == 3:
        geom = shapely.force_2d(geom)
    polys = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
    for poly in polys:
        if not isinstance(poly, Polygon):
            report.error("geometri-type", f"{where}: {poly.geom_type} where a surface is required",
                         plan.file, obj.line, plan.plan_id)
            return None
        shell = Polygon(poly.exterior).buffer(0)
        for hole in poly.interiors:
            if not shell.buffer(0.001).contains(Polygon(hole)):
                # GML: gml_rules has reported it already, with the ring's own line
                if plan.fmt != "GML" or not any(f.rule == "gml.flate.4" for f in report.errors):
                    report.error("gml.flate.4", f"{where}: a hole lies (partly) outside the outer boundary",
                                 plan.file, obj.line, plan.plan_id)
                return None
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        if not repair:
            report.error("gml.flate.1", f"{where}: invalid surface: {reason} (area {geom.area:.1f} m²; "
                         "repair only with --repair)", plan.file, obj.line, obj.gml_id or plan.plan_id)
            return None
        fixed = _polygonal(shapely.make_valid(geom))
        report.warning("geometri-reparert", f"{where}: {reason}; repaired on request (--repair): area "
                       f"{geom.area:.1f} m² before, {fixed.area:.1f} m² after", plan.file, obj.line, plan.plan_id)
        return fixed
    return _polygonal(geom)


def _transformer(epsg: int, target: int) -> Transformer | None:
    if epsg == target or allowed_crs().get(epsg, "").startswith(f"EUREF89 UTM sone {str(target)[-2:]} "):
        return None  # same horizontal CRS (a compound +NN2000 code shares the 2-D axes)
    return Transformer.from_crs(epsg, target, always_xy=True)


@dataclass
class PlanRows:
    plan: dict
    rows: dict[str, list[dict]]


def normalise(plan: PlanInput, report: Report, target_epsg: int, repair: bool = False) -> PlanRows | None:
    """Rows for every table, in target_epsg; None when the plan has errors (they are in the report)."""
    before = len(report.errors)
    pid = plan.plan_id
    p = plan.plan
    crs = allowed_crs()
    for code in sorted(plan.epsg):
        if code not in crs:
            add(report, "koordinatsystem", f"{pid}: EPSG:{code} is not allowed for plan data (allowed: EUREF89 "
                "UTM 31-36, NTM 5-30, and these with NN2000)", plan.file, plan.line, pid)
    if len(plan.epsg) > 1:
        add(report, "koordinatsystem", f"{pid}: several coordinate systems in one plan: "
            f"{', '.join(f'EPSG:{c}' for c in sorted(plan.epsg))}", plan.file, plan.line, pid)
    if not p.get("planidentifikasjon"):
        add(report, "manglar-planid", "the plan has no planidentifikasjon", plan.file, plan.line, pid)
    if not re.fullmatch(r"\d{4}", p.get("kommunenummer", "")):
        add(report, "kommunenummer-ugyldig", f"{pid}: kommunenummer '{p.get('kommunenummer')}' is not 4 digits",
            plan.file, plan.line, pid)
    check_plan(plan, report)
    codes = kodar()
    for key in ("plantype", "planstatus", "lovreferanse", "planbestemmelse", "forslagsstillertype"):
        _check_code(p.get(key), codes[key], key, pid, plan, plan.line, report,
                    required=key in ("plantype", "planstatus"))
    dates = {}
    for key in ("ikrafttredelsesdato", "vedtakendeligplandato", "kunngjoringsdato"):
        value = _date(p.get(key))
        if isinstance(value, str):
            add(report, "ugyldig-dato", f"{pid}: {key} '{value}' is not a date", plan.file, plan.line, pid)
            value = None
        dates[key] = value
    transform = _transformer(next(iter(plan.epsg)), target_epsg) if len(plan.epsg) == 1 and \
        next(iter(plan.epsg)) in crs else None

    def geom_out(g: BaseGeometry | None) -> BaseGeometry | None:
        if g is None:
            return None
        return reproject(g, transform) if transform else shapely.force_2d(g)

    rows: dict[str, list[dict]] = defaultdict(list)
    formal = arealformal()
    areas_by_level: dict[int, list[tuple[PlanObject, MultiPolygon]]] = defaultdict(list)
    omrade: list[MultiPolygon] = []
    omrade_level2: list[tuple[PlanObject, MultiPolygon]] = []
    rejected_level2 = False  # a surface already in error: coverage is not judged on that level (DiBK: DependOn)
    zones: dict[str, list[tuple[PlanObject, MultiPolygon]]] = defaultdict(list)  # rule -> surfaces inside the plan
    for obj in plan.objects:
        table = obj.table
        a = obj.attrs
        level = _int(a.get("vertikalniva")) or 2
        if a.get("vertikalniva"):
            _check_code(a.get("vertikalniva"), codes["vertikalniva"], "vertikalniva", pid, plan, obj.line, report)
        fid = f"{pid}:{obj.local_id}"
        if table is None:
            report.warning("objekttype-ikkje-publisert", f"{pid}: {obj.objtype} is not one of the published plan "
                           "tables", plan.file, obj.line, pid)
            continue
        if table in ("planomrade", "arealformal", "hensynssone", "bestemmelsesomrade"):
            geom = check_polygon(obj, plan, report, repair)
            if geom is None:
                rejected_level2 |= level == 2 and table in ("planomrade", "arealformal")
                continue
            if table == "planomrade":
                omrade.append(geom)
                if level == 2:
                    omrade_level2.append((obj, geom))
                rows[table].append({"omrade_id": fid, "plan_id": pid, "vertikalniva": level, "geometry": geom})
            elif table == "arealformal":
                code = _check_code(a.get("arealformal"), {k: v.namn for k, v in formal.items()}, "arealformal",
                                   pid, plan, obj.line, report, required=True, feature=obj.gml_id)
                areas_by_level[level].append((obj, geom))
                f = formal.get(code) if code is not None else None
                rows[table].append({
                    "formal_id": fid, "plan_id": pid, "arealformal": code, "arealformal_namn": f and f.namn,
                    "hovudgruppe": f and f.hovudgruppe, "feltnavn": a.get("feltnavn"),
                    "eierform": _int(a.get("eierform")), "vertikalniva": level,
                    "utnytting": " ".join(filter(None, (a.get("utnyttingstype"), a.get("utnyttingstall")))) or None,
                    "geometry": geom})
            elif table == "hensynssone":
                zones["hensynssone-utanfor-plan"].append((obj, geom))
                code = _check_code(a.get("hensynskode"), codes["hensyn"], "hensyn", pid, plan, obj.line, report,
                                   required=True, feature=obj.gml_id)
                rows[table].append({"sone_id": fid, "plan_id": pid, "objekttype": obj.objtype, "hensynskode": code,
                                    "hensynsnamn": codes["hensyn"].get(code) if code else None,
                                    "sonenamn": a.get("sonenamn"), "vertikalniva": level, "geometry": geom})
            else:
                zones["bestemmelse-utanfor-plan"].append((obj, geom))
                rows[table].append({"omrade_id": fid, "plan_id": pid, "namn": a.get("namn"),
                                    "hjemmel": a.get("hjemmel"), "vertikalniva": level, "geometry": geom})
        elif table == "planlinje":
            if obj.geometry is None:
                report.warning("geometri-manglar", f"{pid} {obj.objtype} {obj.local_id}: "
                               f"{'; '.join(obj.problems) or 'no geometry'}", plan.file, obj.line, pid)
                continue
            code = _int(a.get("kode"))
            if obj.objtype == "RpJuridiskLinje":
                _check_code(a.get("kode"), codes["juridisklinje"], "juridisklinje", pid, plan, obj.line, report)
            rows[table].append({"linje_id": fid, "plan_id": pid, "objekttype": obj.objtype, "kode": code,
                                "namn": codes["juridisklinje"].get(code) if code else None, "vertikalniva": level,
                                "geometry": _lines(obj.geometry)})
        elif table == "planpunkt":
            if obj.geometry is None:
                continue
            code = _int(a.get("kode"))
            rows[table].append({"punkt_id": fid, "plan_id": pid, "objekttype": obj.objtype, "kode": code,
                                "namn": codes["juridiskpunkt"].get(code) or None if code else None,
                                "vertikalniva": level, "geometry": obj.geometry})
    boundary = shapely.union_all(omrade) if omrade else None
    if boundary is None:
        add(report, "manglar-planomrade", f"{pid}: no RpOmråde; the plan has no boundary on the map",
            plan.file, plan.line, pid)
    else:
        _check_inside(areas_by_level, boundary, plan, report)
        for rule, items in zones.items():
            check_inside(items, boundary, rule, plan, report)
        if not rejected_level2:
            check_coverage(areas_by_level.get(2, []), omrade_level2, plan, report)
    _check_overlaps(areas_by_level, plan, report)
    if len(report.errors) > before or plan.read_errors:
        return None
    planstatus = _int(p.get("planstatus"))
    plantype = _int(p.get("plantype"))
    lovref = _int(p.get("lovreferanse"))
    out_boundary = geom_out(boundary)
    plan_row = {
        "plan_id": pid, "kommunenummer": p.get("kommunenummer"), "planidentifikasjon": p.get("planidentifikasjon"),
        "plannavn": p.get("plannavn"), "plantype": plantype, "plantype_namn": codes["plantype"].get(plantype),
        "planstatus": planstatus, "planstatus_namn": codes["planstatus"].get(planstatus),
        "statusgruppe": status_group(planstatus), "lovreferanse": lovref,
        "lovreferanse_namn": codes["lovreferanse"].get(lovref), "planbestemmelse": _int(p.get("planbestemmelse")),
        **dates, "areal_m2": round(boundary.area, 1) if boundary is not None else None,
        "kjelde": plan.file.name, "kjeldeformat": plan.fmt,
        "geometry": _polygonal(out_boundary) if out_boundary is not None else None,
    }
    for table_rows in rows.values():
        for r in table_rows:
            r["geometry"] = geom_out(r["geometry"])
    return PlanRows(plan_row, dict(rows))


def _lines(geom: BaseGeometry) -> MultiLineString:
    return geom if isinstance(geom, MultiLineString) else MultiLineString([geom])


def _check_code(value: str | None, codes: dict[int, str], listname: str, pid: str, plan: PlanInput,
                line: int | None, report: Report, required: bool = False, feature: str | None = None) -> int | None:
    if value in (None, ""):
        if required:
            add(report, "manglar-kode", f"{pid}: {listname} is missing", plan.file, line, feature or pid)
        return None
    code = _int(value)
    if code is None or code not in codes:
        add(report, "ukjend-kode", f"{pid}: {listname} '{value}' is not in the Plan 5.0 code list",
            plan.file, line, feature or pid)
        return None
    return code


def _check_inside(areas: dict[int, list[tuple[PlanObject, MultiPolygon]]], boundary: BaseGeometry,
                  plan: PlanInput, report: Report) -> None:
    for items in areas.values():
        for obj, geom in items:
            outside = geom.difference(boundary)
            if _significant(outside):
                add(report, "formal-utanfor-plan", f"{plan.plan_id} arealformål {obj.local_id}: {outside.area:.1f} m² "
                    "lies outside the plan boundary (RpOmråde)", plan.file, obj.line, obj.gml_id or plan.plan_id)


def _check_overlaps(areas: dict[int, list[tuple[PlanObject, MultiPolygon]]], plan: PlanInput,
                    report: Report) -> None:
    for level, items in areas.items():
        geoms = [g for _, g in items]
        tree = STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        for i, j in zip(left, right, strict=True):
            if i >= j:
                continue
            shared = geoms[i].intersection(geoms[j])
            if _significant(shared):
                a, b = items[i][0], items[j][0]
                add(report, "overlapp-arealformal", f"{plan.plan_id}: arealformål {a.local_id} and {b.local_id} "
                    f"overlap by {shared.area:.1f} m² on vertikalnivå {level}", plan.file, a.line,
                    a.gml_id or plan.plan_id)
