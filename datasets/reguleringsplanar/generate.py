"""Seeded generator: Stord's reguleringsplanar as the municipality's plan system exports them.

SYNTHETIC plans on the street grids of the synthetic matrikkel (datasets/eigedomar/generate.py), all on
land inside Stord's real boundary. Written as:
- `planar/<planid>.sos` (older plans; SOSI 4.5 with TEGNSETT ISO8859-10/-1, one DOSN8, one UTF-8 with BOM
  and CRLF, a few whose header says ISO8859-1 while the bytes are UTF-8, reversed curves `:-n`) and
  `planar/<planid>.gml` (newer plans; Plan 5.0 GML with xlinks, UUID lokalIds, DiBK-valid rings);
- `planregister.csv` (saksnummer, which plan replaced or changed which), `dokument.csv` + `dokument/*.pdf`,
  `dispensasjonar.csv` (`;`, decimal comma, dd.mm.yyyy), and three scanned plankart: TIFF + world file,
  PNG + rotated world file, JPEG + ground control points (QGIS .points sidecar).
Status mix as in a real planregister: most plans in force, ~10 % in progress, older ones replaced
(utgått/erstatta) or repealed (oppheva), minor changes (plantype 31) inside older plans.
"""

from __future__ import annotations

import csv
import io
import math
import random
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.polygon import orient

from grunndata.samples import load_generator

SEED = 46140
HERE = Path(__file__).parent
OUT = HERE / "kjelder"
eigedomar = load_generator(HERE.parent / "eigedomar")
CU, CV = eigedomar.CELL_U, eigedomar.CELL_V
LAKES = ["Ådlandsvatnet", "Storavatnet", "Kyrkjevatnet", "Vikanesvatnet", "Langavatnet", "Nordbøvatnet",
         "Grunnavågsvatnet", "Dalevatnet"]
RESIDENTIAL = [1110, 1111, 1111, 1112, 1113]
CENTRE = [1130, 1150, 1160, 1130, 1140, 1166]
INDUSTRY = [1300, 1340, 1350, 1310, 1390]
DISP_TEMA = ["Garasje nærare nabogrense enn 4 m", "Tilbygg over byggegrense", "Auka utnyttingsgrad (%-BYA)",
             "Frådeling av tomt", "Bruksendring frå bustad til næring", "Terrassar over regulert gesimshøgd",
             "Støttemur i frisiktsone"]


@dataclass
class Area:
    objtype: str  # RpArealformålOmråde, RpSikringSone, RpFareSone, RpAngittHensynSone, RpBestemmelseOmråde
    code: int | None
    geom: Polygon
    name: str | None = None


@dataclass
class Plan:
    planid: str
    name: str
    year: int
    plantype: int
    planstatus: int
    lovref: int
    boundary: Polygon
    areas: list[Area]
    place: str
    ikraft: date | None
    saksnummer: str | None
    lines: list[tuple[int, LineString]] = field(default_factory=list)  # RpJuridiskLinje (code, line)
    replaced_by: str | None = None
    changed_by: list[str] = field(default_factory=list)
    fmt: str = "SOSI"
    encoding: str = "ISO8859-10"
    cells: list[tuple[int, int]] = field(default_factory=list)
    grid: object = None

    @property
    def plan_id(self) -> str:
        return f"4614_{self.planid}"


# -- geometry ------------------------------------------------------------------------------------
def _bands(grid, c0: int, c1: int, r0: int, r1: int, rng: random.Random, kind: str, year: int) -> list[Area]:
    """Tile the block [c0,c1) x [r0,r1) with arealformål rectangles: no gaps, no overlaps."""
    u0, u1 = c0 * CU, c1 * CU
    areas: list[Area] = []
    v = r0 * CV
    road = 7.0 if kind != "gs" else 0
    if kind == "gs":  # gang- og sykkelveg: one row split in verge / path / verge
        top = r1 * CV
        for code, h in ((2019, 3.0), (2015, 4.0), (2019, top - v - 7.0)):
            areas.append(Area("RpArealformålOmråde", code, grid.rect(u0, v, u1, v + h)))
            v += h
        return areas
    areas.append(Area("RpArealformålOmråde", 2011, grid.rect(u0, v, u1, v + road), "o_SKV1"))
    v += road
    if year >= 1990:
        areas.append(Area("RpArealformålOmråde", 2012, grid.rect(u0, v, u1, v + 3.0), "o_SF1"))
        v += 3.0
    rows = r1 - r0
    for i in range(rows):
        top = (r0 + i + 1) * CV
        if i == rows - 1 and rows > 2 and kind in ("bustad", "skule"):
            code = rng.choice([3040, 1610, 3001]) if kind == "bustad" else 1400
        elif kind == "bustad":
            code = rng.choice(RESIDENTIAL) if year >= 1990 else 1110
        elif kind == "sentrum":
            code = rng.choice(CENTRE)
        elif kind == "naering":
            code = rng.choice(INDUSTRY)
        elif kind == "skule":
            code = 1162 if i < rows // 2 else 1400
        else:
            code = 1110
        if c1 - c0 >= 5 and rng.random() < 0.35:  # split the band: parking or green at one end
            cut = (c0 + rng.randint(1, 2)) * CU
            other = 2080 if kind in ("sentrum", "naering") else 3040
            areas.append(Area("RpArealformålOmråde", other, grid.rect(u0, v, cut, top)))
            areas.append(Area("RpArealformålOmråde", code, grid.rect(cut, v, u1, top)))
        else:
            areas.append(Area("RpArealformålOmråde", code, grid.rect(u0, v, u1, top)))
        v = top
    prefix = {1: "B", 2: "SKV", 3: "G", 5: "L"}
    for n, a in enumerate(areas, start=1):
        if a.name is None and a.code:
            a.name = f"{'o_' if a.code // 1000 in (2, 3) else ''}{prefix.get(a.code // 1000, 'F')}{n}"
    return areas


def _rural(centre: tuple[float, float], rng: random.Random) -> tuple[Polygon, list[Area]]:
    w, h = rng.uniform(160, 380), rng.uniform(120, 260)
    angle = rng.uniform(0, math.pi)
    c, s = math.cos(angle), math.sin(angle)

    def rect(u0: float, v0: float, u1: float, v1: float) -> Polygon:
        pts = [(u0, v0), (u1, v0), (u1, v1), (u0, v1)]
        return Polygon([(centre[0] + u * c - vv * s, centre[1] + u * s + vv * c) for u, vv in pts])
    boundary = rect(-w / 2, -h / 2, w / 2, h / 2)
    areas = [Area("RpArealformålOmråde", 5100, rect(-w / 2, -h / 2, w / 2, -h / 6), "LNFR1"),
             Area("RpArealformålOmråde", 2011, rect(-w / 2, -h / 6, w / 2, -h / 6 + 6), "SKV1"),
             Area("RpArealformålOmråde", 1121, rect(-w / 2, -h / 6 + 6, w / 4, h / 2), "BFF1"),
             Area("RpArealformålOmråde", 5100, rect(w / 4, -h / 6 + 6, w / 2, h / 2), "LNFR2")]
    return boundary, areas


def _hensyn(plan_areas: list[Area], boundary: Polygon, rng: random.Random, place: str) -> list[Area]:
    out = []
    road = next((a for a in plan_areas if a.code == 2011), None)
    if road is not None and rng.random() < 0.3:
        x0, y0, *_ = road.geom.exterior.coords[0]
        corner = shapely.Point(x0, y0)
        tri = corner.buffer(14, quad_segs=1).intersection(boundary)
        if tri.area > 10 and tri.geom_type == "Polygon":
            out.append(Area("RpSikringSone", 140, tri, "H140_1"))
    if rng.random() < 0.12:
        minx, miny, maxx, maxy = boundary.bounds
        strip = boundary.intersection(shapely.box(minx, maxy - (maxy - miny) * 0.2, maxx, maxy))
        if strip.geom_type == "Polygon" and strip.area > 50:
            out.append(Area("RpFareSone", 320 if place != "Leirvik" else 310, strip, "H320_1"))
    if place == "Leirvik" and rng.random() < 0.25:
        core = boundary.buffer(-25)
        if core.geom_type == "Polygon" and core.area > 200:
            out.append(Area("RpAngittHensynSone", 570, core, "H570_1"))
    housing = [a for a in plan_areas if a.code and a.code // 100 == 11]
    if housing and rng.random() < 0.15:
        inner = rng.choice(housing).geom.buffer(-6)
        if inner.geom_type == "Polygon" and inner.area > 100:
            out.append(Area("RpBestemmelseOmråde", None, inner, "#1"))
    return out


# -- plans ----------------------------------------------------------------------------------------
def _name(kind: str, place: str, street: str, rng: random.Random, year: int, gnr: int, bnr: int) -> str:
    options = {
        "bustad": [f"{street} bustadfelt", f"Reguleringsplan for {place}, {street}", f"{place} aust, bustader",
                   f"Detaljregulering for {street}", f"Gnr. {gnr} bnr. {bnr} m.fl., {place}",
                   f"Bustadfelt ved {street}"],
        "sentrum": [f"Leirvik sentrum, kvartal {rng.randint(1, 24)}", f"{street} – {rng.choice(['Torget', 'Hamna'])}",
                    "Områderegulering for Leirvik sentrum", f"Sentrumsplan {street}"],
        "naering": [f"{place} næringsområde", f"{place} industriområde, del {rng.randint(1, 4)}",
                    f"Næringsareal ved {street}"],
        "skule": [f"{place} skule og idrettsanlegg", f"{place} barnehage og skule"],
        "gs": [f"Gang- og sykkelveg langs {street}", f"Fortau og gangveg {street}"],
    }[kind]
    name = rng.choice(options)
    if rng.random() < 0.02:
        name = name.replace(" ", "  ", 1) + " "  # double space and trailing space, as typed
    return name


def _kind(place: str, rng: random.Random) -> str:
    roll = rng.random()
    if place == "Leirvik":
        return "sentrum" if roll < 0.4 else "bustad" if roll < 0.85 else "gs"
    if place in ("Heiane", "Eldøyane"):
        return "naering" if roll < 0.6 else "bustad"
    if place == "Nysæter" and roll < 0.2:
        return "skule"
    return "gs" if roll < 0.08 else "bustad"


def _lawful(year: int, rng: random.Random, big: bool) -> tuple[int, int]:
    """plantype, lovreferanse by the act in force that year."""
    if year < 1986:
        return 30, 3
    if year < 2009:
        return rng.choice([30, 30, 32]), 4
    return (34 if big else 35), 6


def make_plans(rng: random.Random, target: int = 330) -> list[Plan]:
    grids = [g for g in eigedomar.world() if g.cells]
    weights = [len(g.cells) for g in grids]
    plans: list[Plan] = []
    seq: dict[int, int] = {}
    years = sorted(1968 + int(58 * rng.random() ** 0.8) for _ in range(target))  # more plans in later years
    land = eigedomar.land()
    rural_done = 0
    for year in years:
        for _attempt in range(60):
            if rng.random() < 0.1:  # a cabin area away from the grids
                x0, y0, x1, y1 = land.bounds
                centre = (rng.uniform(x0, x1), rng.uniform(y0, y1))
                boundary, areas = _rural(centre, rng)
                if not land.contains(boundary) or any(boundary.distance(shapely.Point(g.origin)) < 600
                                                      for g in grids):
                    continue
                kind, place, grid, cells = "hytte", rng.choice(LAKES), None, []
                name = f"Hyttefelt ved {place}"
                rural_done += 1
            else:
                grid = rng.choices(grids, weights)[0]
                col, row = rng.choice(sorted(grid.cells))
                kind = _kind(grid.place, rng)
                ncol = rng.randint(6, 14) if kind == "gs" else rng.randint(3, 10)
                nrow = 1 if kind == "gs" else rng.randint(2, 7)
                cells = [(c, r) for c in range(col, col + ncol) for r in range(row, row + nrow)]
                if sum(cell in grid.cells for cell in cells) < len(cells):
                    continue
                boundary = grid.rect(col * CU, row * CV, (col + ncol) * CU, (row + nrow) * CV)
                areas = _bands(grid, col, col + ncol, row, row + nrow, rng, kind, year)
                place = grid.place
                first = grid.cells[cells[0]]
                name = _name(kind, place, grid.street(row), rng, year, first["gnr"], first["bnr"])
            break
        else:
            continue
        seq[year] = seq.get(year, 0) + 1
        plantype, lovref = _lawful(year, rng, boundary.area > 60000)
        day = date(year, 1, 1) + timedelta(days=rng.randint(20, 340))
        areas += _hensyn(areas, boundary, rng, place)
        plan = Plan(f"{year}{seq[year]:03d}", name, year, plantype, 3, lovref, boundary, areas, place, day,
                    f"{year}/{rng.randint(100, 4999)}" if year >= 1995 else None, cells=cells, grid=grid)
        housing = [a for a in areas if a.code in (1110, 1111, 1112, 1113)]
        if housing and year >= 1986 and rng.random() < 0.4:
            ring = housing[0].geom.exterior
            plan.lines.append((1211, LineString([ring.interpolate(0.3, normalized=True).coords[0],
                                                 ring.interpolate(0.45, normalized=True).coords[0]])))
        # history: a new plan over most of an older one replaces it; a small one inside changes it
        for old in plans:
            if old.planstatus != 3 or not old.boundary.intersects(boundary):
                continue
            shared = old.boundary.intersection(boundary).area
            if shared > 0.5 * old.boundary.area:
                old.planstatus, old.replaced_by = 5, plan.plan_id
            elif shared > 0.9 * boundary.area and boundary.area < 0.5 * old.boundary.area:
                plan.plantype = 31 if year >= 1986 else plan.plantype
                plan.name = f"{old.name.strip()} – mindre endring"
                old.changed_by.append(plan.plan_id)
        plans.append(plan)
    for plan in plans:
        if plan.year >= 2020 and rng.random() < 0.7:  # in progress: no dates, no replacement yet
            plan.planstatus, plan.ikraft = rng.choice([1, 2, 2]), None
        elif plan.planstatus == 3 and plan.year < 1995 and rng.random() < 0.15:
            plan.planstatus = 4  # repealed without a successor
        elif plan.planstatus == 3 and plan.year >= 2015 and rng.random() < 0.03:
            plan.planstatus = 6
    for plan in plans:  # in-progress plans do not replace anything yet
        if plan.planstatus in (1, 2):
            for old in plans:
                if old.replaced_by == plan.plan_id:
                    old.planstatus, old.replaced_by = 3, None
    for i, plan in enumerate(plans):
        plan.fmt = "GML" if plan.year >= 2012 and i % 2 == 0 else "SOSI"
        plan.encoding = ("UTF-8" if plan.year >= 2005 else "ISO8859-10" if plan.year < 1995 else "ISO8859-1")
    return plans


# -- writers ------------------------------------------------------------------------------------
_SOSI_HENSYN = {"RpSikringSone": "RPSIKRING", "RpFareSone": "RPFARE", "RpAngittHensynSone": "RPANGITTHENSYN"}


# TEGNSETT -> codec for the charsets the generator writes (pipelines/sosi.py reads these and more)
SOSI_CODECS = {"UTF-8": "utf-8", "ISO8859-10": "iso8859_10", "ISO8859-1": "latin-1", "ANSI": "cp1252",
               "DOSN8": "cp865"}


def sosi_bytes(text: str, declared: str) -> bytes:
    """The file's bytes in its TEGNSETT, never a "?" for a character it cannot hold: a plan name with "–" (en dash,
    not in ISO 8859-1/-10) is written in ANSI (Windows-1252, which has it) or else UTF-8, and the header says so."""
    for charset in dict.fromkeys((declared, "ANSI", "UTF-8")):
        try:
            return text.replace(f"..TEGNSETT {declared}\n", f"..TEGNSETT {charset}\n", 1).encode(SOSI_CODECS[charset])
        except UnicodeEncodeError:
            continue
    raise AssertionError("unreachable: UTF-8 holds every character")


def sosi_text(plan: Plan, rng: random.Random, declared: str) -> str:
    """SOSI 4.5 text of one plan: each surface's rings as KURVE, FLATE by ..REF (some curves reversed)."""
    def nø(coords) -> list[str]:
        return [f"{round(y * 100)} {round(x * 100)}" for x, y in coords]
    minx, miny, maxx, maxy = plan.boundary.bounds
    out = [".HODE", "..TEGNSETT " + declared, "..TRANSPAR", "...KOORDSYS 22", "...ORIGO-NØ 0 0", "...ENHET 0.01",
           "..OMRÅDE", f"...MIN-NØ {math.floor(miny)} {math.floor(minx)}",
           f"...MAX-NØ {math.ceil(maxy)} {math.ceil(maxx)}", "..SOSI-VERSJON 4.5", "..SOSI-NIVÅ 4",
           "..OBJEKTKATALOG Regplan 20120416 4.5", "..PRODUSENT \"Stord kommune\""]
    serial = 0
    ident = ["..NASJONALAREALPLANID", "...KOMM 4614", f"...PLANID {plan.planid}", "..VERTNIV 2"]

    def curve(coords, objtype: str, extra: list[str] | None = None) -> int:
        nonlocal serial
        serial += 1
        pts = nø(coords)
        out.extend([f".KURVE {serial}:", f"..OBJTYPE {objtype}", *(extra or []), "..NØ", pts[0] + " ...KP 1",
                    "..NØ", *pts[1:-1], pts[-1] + " ...KP 1"])
        return serial

    def surface(poly: Polygon, objtype: str, attrs: list[str], border: str) -> None:
        nonlocal serial
        coords = list(poly.exterior.coords)
        reverse = rng.random() < 0.3
        ref = curve(coords[::-1] if reverse else coords, border)
        holes = [curve(list(h.coords), border) for h in poly.interiors]
        serial += 1
        rep = poly.representative_point()
        refs = f"..REF :{'-' if reverse else ''}{ref}" + "".join(f" (:{h})" for h in holes)
        out.extend([f".FLATE {serial}:", f"..OBJTYPE {objtype}", *ident, *attrs, refs, "..NØ",
                    f"{round(rep.y * 100)} {round(rep.x * 100)}"])

    plan_attrs = [f"..PLANNAVN \"{plan.name}\"", f"..PLANTYPE {plan.plantype}", f"..PLANSTAT {plan.planstatus}",
                  f"..LOVREFERANSE {plan.lovref}", "..PLANBEST 1"]
    if plan.ikraft:
        plan_attrs += [f"..IKRAFT {plan.ikraft:%Y%m%d}", f"..VEDTAKENDELIGPLANDATO {plan.ikraft:%Y%m%d}",
                       f"..KUNNGJØRINGSDATO {plan.ikraft + timedelta(days=9):%Y%m%d}"]
    surface(plan.boundary, "RpOmråde", plan_attrs, "RpGrense")
    for a in plan.areas:
        if a.objtype == "RpArealformålOmråde":
            attrs = [f"..RPAREALFORMÅL {a.code}", f"..EIERFORM {1 if a.code // 1000 in (2, 3) else 3}"]
            if a.name:
                attrs.append(f"..FELTNAVN {a.name}")
            surface(a.geom, a.objtype, attrs, "RpFormålGrense")
        elif a.objtype == "RpBestemmelseOmråde":
            surface(a.geom, a.objtype, [f"..BESTEMMELSEOMRNAVN \"{a.name}\"", "..RPBESTEMMELSEHJEMMEL 91"],
                    "RpBestemmelseGrense")
        else:
            surface(a.geom, a.objtype, [f"..HENSYNSONENAVN {a.name}", f"..{_SOSI_HENSYN[a.objtype]} {a.code}"],
                    a.objtype.replace("Sone", "Grense"))
    for code, line in plan.lines:
        curve(list(line.coords), "RpJuridiskLinje", [*ident, f"..RPJURLINJE {code}"])
    out.append(".SLUTT")
    return "\n".join(out) + "\n"


def gml_bytes(plan: Plan, dangling: bool = False) -> bytes:  # dangling: kept for callers, unused
    from lxml import etree

    app = "http://skjema.geonorge.no/SOSI/produktspesifikasjon/Reguleringsplanforslag/5.0"
    gml, xlink = "http://www.opengis.net/gml/3.2", "http://www.w3.org/1999/xlink"
    srs = "http://www.opengis.net/def/crs/EPSG/0/25832"
    root = etree.Element(f"{{{gml}}}FeatureCollection", nsmap={"gml": gml, "app": app, "xlink": xlink})
    root.set(f"{{{gml}}}id", f"_fc_{plan.planid}")
    n = 0

    def sub(parent, ns, tag, text=None, **attrs):
        el = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
        if text is not None:
            el.text = str(text)
        return el

    def ident(feat, local):
        idf = sub(sub(feat, app, "identifikasjon"), app, "Identifikasjon")
        # DiBK gml.uuid.1: lokalId is a UUID (stable: derived from plan and object)
        sub(idf, app, "lokalId", str(uuid.uuid5(uuid.NAMESPACE_URL, f"4614/{plan.planid}/{local}")))
        sub(idf, app, "navnerom", "http://data.geonorge.no/4614/Reguleringsplaner/so")

    def surface(parent, poly: Polygon):
        nonlocal n
        n += 1
        ms = sub(sub(parent, app, "område"), gml, "MultiSurface", srsName=srs, srsDimension="2")
        ms.set(f"{{{gml}}}id", f"_g{plan.planid}_{n}")
        p = sub(sub(ms, gml, "surfaceMember"), gml, "Polygon")
        p.set(f"{{{gml}}}id", f"_p{plan.planid}_{n}")
        poly = orient(poly, 1.0)  # DiBK gml.flate.3: exterior counter-clockwise, interiors clockwise
        for tag, ring in [("exterior", poly.exterior)] + [("interior", h) for h in poly.interiors]:
            sub(sub(sub(p, gml, tag), gml, "LinearRing"), gml, "posList",
                " ".join(f"{x:.2f} {y:.2f}" for x, y in ring.coords))

    def member(objtype: str, local: str):
        feat = sub(sub(root, gml, "featureMember"), app, objtype)
        feat.set(f"{{{gml}}}id", f"_{local}")
        ident(feat, local)
        return feat

    ap = member("Arealplan", f"ap-{plan.planid}")
    nid = sub(sub(ap, app, "arealplanId"), app, "NasjonalArealplanId")
    sub(sub(sub(nid, app, "administrativEnhet"), app, "AdministrativEnhetskode"), app, "kommunenummer", "4614")
    sub(nid, app, "planidentifikasjon", plan.planid)
    sub(ap, app, "plantype", plan.plantype)
    sub(ap, app, "plannavn", plan.name)
    sub(ap, app, "planstatus", plan.planstatus)
    sub(ap, app, "lovreferanse", plan.lovref)
    if plan.ikraft:
        sub(ap, app, "ikrafttredelsesdato", plan.ikraft.isoformat())
        sub(ap, app, "vedtakEndeligPlanDato", plan.ikraft.isoformat())
    sub(ap, app, "rpOmråde", **{f"{{{xlink}}}href": f"#_ro-{plan.planid}"})
    ro = member("RpOmråde", f"ro-{plan.planid}")
    surface(ro, plan.boundary)
    sub(ro, app, "vertikalnivå", 2)
    sub(ro, app, "arealplan", **{f"{{{xlink}}}href": f"#_ap-{plan.planid}"})
    gml_hensyn = {"RpSikringSone": "sikring", "RpFareSone": "fare", "RpAngittHensynSone": "angittHensyn"}
    for i, a in enumerate(plan.areas):
        feat = member(a.objtype, f"f{i}-{plan.planid}")
        surface(feat, a.geom)
        if a.objtype == "RpArealformålOmråde":
            sub(feat, app, "arealformål", a.code)
            if a.name:
                sub(feat, app, "feltnavn", a.name)
            sub(feat, app, "eierform", 1 if a.code // 1000 in (2, 3) else 3)
        elif a.objtype == "RpBestemmelseOmråde":
            sub(feat, app, "tekststreng", a.name)
        else:
            sub(feat, app, gml_hensyn[a.objtype], a.code)
            sub(feat, app, "hensynSonenavn", a.name)
        sub(feat, app, "vertikalnivå", 2)
        # a link into the plan's (absent) 3-D companion file would fail DiBK's gml.xlink.1: none is written
        sub(feat, app, "planområde", **{f"{{{xlink}}}href": f"#_ro-{plan.planid}"})
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with text lines. Hand-written (about 30 lines) so the generator needs no PDF library;
    Helvetica with WinAnsiEncoding covers æ, ø, å."""
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    text = "BT /F1 11 Tf 56 780 Td 15 TL " + " ".join(f"({esc(t)}) '" for t in lines) + " ET"
    content = text.encode("cp1252", "replace")
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    out.writelines(b"%010d 00000 n \n" % o for o in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


# -- scanned plankart -------------------------------------------------------------------------------
def scan(plan: Plan, rng: random.Random, res: float, rotate: bool) -> tuple[np.ndarray, object]:
    """An RGB 'scan' of the plan map: coloured arealformål, black outlines, yellowed paper, noise.
    Returns the image and the pixel->EPSG:25832 affine (rotated like the drawing when `rotate`)."""
    from affine import Affine
    from rasterio import features

    from pipelines.plan_codes import arealformal

    margin = 20.0
    if rotate and plan.grid is not None:  # drawn along the street grid: the scan is rotated on the map
        grid = plan.grid
        us = [c[0] for c in plan.cells]
        vs = [c[1] for c in plan.cells]
        u0, v1 = min(us) * CU - margin, (max(vs) + 1) * CV + margin
        width = int(((max(us) + 1 - min(us)) * CU + 2 * margin) / res)
        height = int(((max(vs) + 1 - min(vs)) * CV + 2 * margin) / res)
        x0, y0 = grid.to_xy(u0, v1)
        c, s = math.cos(grid.angle), math.sin(grid.angle)
        transform = Affine(res * c, res * s, x0, res * s, -res * c, y0)
    else:
        minx, miny, maxx, maxy = plan.boundary.buffer(margin).bounds
        width, height = int((maxx - minx) / res), int((maxy - miny) / res)
        transform = Affine(res, 0, minx, 0, -res, maxy)
    paper = np.array([246, 238, 214], dtype=np.float64)
    img = np.ones((height, width, 3)) * paper
    codes = arealformal()
    for a in plan.areas:
        if a.objtype != "RpArealformålOmråde":
            continue
        mask = features.rasterize([(a.geom, 1)], out_shape=(height, width), transform=transform).astype(bool)
        colour = codes[a.code].farge or "#ffffff"
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)
        img[mask] = 0.75 * rgb + 0.25 * paper  # faded print
    outlines = [a.geom.exterior for a in plan.areas] + [plan.boundary.exterior]
    ink = features.rasterize([(g.buffer(res * 1.2), 1) for g in outlines], out_shape=(height, width),
                             transform=transform).astype(bool)
    img[ink] = (30, 30, 30)
    nprng = np.random.default_rng(rng.randint(0, 2**31))
    img += nprng.normal(0, 7, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), transform


def write_scans(plans: list[Plan], out: Path, rng: random.Random) -> list[dict]:
    import rasterio

    warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)  # a scan has no georeference
    old = [p for p in plans if p.year < 1990 and p.grid is not None and len(p.cells) <= 40]
    chosen = old[:3]
    rows = []
    folder = out / "plankart"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    for i, plan in enumerate(chosen):
        res = 0.5
        img, t = scan(plan, rng, res, rotate=i > 0)
        h, w, _ = img.shape
        stem = folder / f"{plan.planid}_plankart"
        if i == 0:  # TIFF + world file (north-up)
            path = stem.with_suffix(".tif")
            with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8") as dst:
                dst.write(img.transpose(2, 0, 1))
            _world(t, stem.with_suffix(".tfw"))
        elif i == 1:  # PNG + world file with rotation terms
            path = stem.with_suffix(".png")
            with rasterio.open(path, "w", driver="PNG", width=w, height=h, count=3, dtype="uint8") as dst:
                dst.write(img.transpose(2, 0, 1))
            _world(t, stem.with_suffix(".pgw"))
        else:  # JPEG + ground control points read off the drawing (QGIS georeferencer .points)
            path = stem.with_suffix(".jpg")
            with rasterio.open(path, "w", driver="JPEG", width=w, height=h, count=3, dtype="uint8",
                               quality=85) as dst:
                dst.write(img.transpose(2, 0, 1))
            lines = ["#CRS: EPSG:25832", "mapX,mapY,sourceX,sourceY,enable,dX,dY,residual"]
            for px, py in ((40, 40), (w - 40, 40), (w - 40, h - 40), (40, h - 40), (w // 2, h // 2)):
                mx, my = t @ (px, py)
                # QGIS stores source Y as negative pixel rows
                lines.append(f"{mx + rng.uniform(-0.2, 0.2):.3f},{my + rng.uniform(-0.2, 0.2):.3f},{px},{-py},1,0,0,0")
            (path.parent / (path.name + ".points")).write_text("\n".join(lines) + "\n", encoding="utf-8")
        for aux in folder.glob("*.aux.xml"):
            aux.unlink()
        rows.append({"plan_id": plan.plan_id, "fil": f"plankart/{path.name}",
                     "tittel": f"Plankart {plan.name.strip()} ({plan.year}), skanna"})
    return rows


def _world(t, path: Path) -> None:
    # World file: A, D, B, E, C, F with C/F at the centre of the upper-left pixel.
    cx, cy = t @ (0.5, 0.5)
    path.write_text("\n".join(f"{v:.6f}" for v in (t.a, t.d, t.b, t.e, cx, cy)) + "\n", encoding="ascii")


# -- registers ----------------------------------------------------------------------------------------
def _dispensations(plans: list[Plan], rng: random.Random) -> list[list[str]]:
    rows = [["dispensasjon_id", "plan_id", "saksnummer", "vedtaksdato", "gnr", "bnr", "tema", "vedtak", "aust",
             "nord"]]
    n = 0
    for plan in plans:
        if plan.planstatus not in (3, 6) or plan.grid is None or rng.random() > 0.35:
            continue
        for _ in range(rng.randint(1, 3)):
            cell = plan.grid.cells[rng.choice(plan.cells)]
            when = date(max(plan.year + 1, 2000), 1, 1) + timedelta(days=rng.randint(0, 365 * 8))
            if when > date(2026, 10, 1):
                continue
            n += 1
            centre = cell["geometry"].centroid
            rows.append([f"D-{n:04d}", plan.plan_id, f"{when.year}/{rng.randint(100, 4999)}", f"{when:%d.%m.%Y}",
                         str(cell["gnr"]), str(cell["bnr"]), rng.choice(DISP_TEMA),
                         "innvilga" if rng.random() < 0.8 else "avslått",
                         f"{centre.x:.1f}".replace(".", ","), f"{centre.y:.1f}".replace(".", ",")])
    return rows


def generate(out: Path = OUT) -> dict[str, Path]:
    rng = random.Random(SEED)
    plans = make_plans(rng)
    folder = out / "planar"
    docs = out / "dokument"
    for d in (folder, docs):
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
    special = {"dosn8": None, "bom": None, "lying": []}
    sosi_plans = [p for p in plans if p.fmt == "SOSI"]
    special["dosn8"], special["bom"] = sosi_plans[3].planid, sosi_plans[10].planid
    special["lying"] = [p.planid for p in sosi_plans[20:24]]
    gml_first = next(p.planid for p in plans if p.fmt == "GML")
    for plan in plans:
        if plan.fmt == "GML":
            (folder / f"{plan.planid}.gml").write_bytes(gml_bytes(plan, dangling=plan.planid == gml_first))
            continue
        if plan.planid == special["dosn8"]:
            raw = sosi_bytes(sosi_text(plan, rng, "DOSN8"), "DOSN8")
        elif plan.planid == special["bom"]:
            raw = b"\xef\xbb\xbf" + sosi_text(plan, rng, "UTF-8").replace("\n", "\r\n").encode("utf-8")
        elif plan.planid in special["lying"]:
            raw = sosi_text(plan, rng, "ISO8859-1").encode("utf-8")  # header says Latin-1, bytes are UTF-8
        else:
            raw = sosi_bytes(sosi_text(plan, rng, plan.encoding), plan.encoding)
        (folder / f"{plan.planid}.sos").write_bytes(raw)
    # planregister: what the case-handling system knows beyond the plan file
    reg = [["plan_id", "saksnummer", "erstatta_av", "endra_av"]]
    for plan in plans:
        reg.append([plan.plan_id, plan.saksnummer or "", plan.replaced_by or "", " ".join(plan.changed_by)])
    _csv(reg, out / "planregister.csv")
    docrows = [["dokument_id", "plan_id", "dokumenttype", "tittel", "fil", "dato"]]
    for plan in plans:
        kinds = []
        if plan.planstatus in (3, 4, 5, 6):
            kinds.append(("foresegner", f"Føresegner til {plan.name.strip()}"))
        if plan.year >= 2009:
            kinds.append(("planomtale", f"Planomtale, {plan.name.strip()}"))
        if plan.planstatus in (1, 2):
            kinds.append(("planforslag", f"Planforslag til offentleg ettersyn, {plan.name.strip()}"))
        for kind, title in kinds:
            fname = f"{plan.planid}_{kind}.pdf"
            body = [title, f"PlanID {plan.planid}, Stord kommune", "",
                    f"Vedteke {plan.ikraft:%d.%m.%Y}" if plan.ikraft else "Ikkje vedteke",
                    "§ 1 Føremål med planen", "Planen skal leggje til rette for " + plan.name.strip().lower() + ".",
                    "§ 2 Fellesføresegner", "Tiltak skal ha god estetisk utforming.",
                    "SYNTETISK DOKUMENT - demonstrasjonsdata"]
            (docs / fname).write_bytes(minimal_pdf(body))
            docrows.append([f"{plan.planid}-{kind}", plan.plan_id, kind, title, f"dokument/{fname}",
                            f"{plan.ikraft:%d.%m.%Y}" if plan.ikraft else ""])
    scans = write_scans(plans, out, rng)
    for s in scans:
        docrows.append([f"{s['plan_id'].split('_')[1]}-plankart", s["plan_id"], "plankart", s["tittel"],
                        s["fil"], ""])
    _csv(docrows, out / "dokument.csv")
    _csv(_dispensations(plans, rng), out / "dispensasjonar.csv")
    return {"planar": folder, "planregister": out / "planregister.csv", "dokument": out / "dokument.csv",
            "dispensasjonar": out / "dispensasjonar.csv", "plankart": out / "plankart"}


def _csv(rows: list[list[str]], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\n").writerows(rows)


if __name__ == "__main__":
    for key, p in generate().items():
        print(key, p)
