"""Source kind `va`: a VA export (Gemini/Powel-style SOSI, or the same attributes in a GeoPackage) -> ledning, punkt.

SOSI is read by the shared reader (pipelines/sosi.py); VA attributes sit in the ..EGS_LEDNING / ..EGS_PUNKT group.
Code lists are data (pipelines/data/va_kodar.csv). Operational data is published with its defects flagged, not
dropped: unknown codes, missing dimensions, lines whose FSID/TSID name no point, duplicated SIDs and doubled lines
are warnings naming the object (SID, SOSI serial) and the line; a file that is not a VA export is an error.

Heights are kept: a source with Z (SOSI ..NØH, GML srsDimension 3, a GeoPackage LineStringZ/PointZ) gives 3-D
geometries in the store and the OGC API; a source without stays 2-D (no height is made up). A table whose objects
mix both is published 2-D with a warning (see `_one_dimension`).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from functools import cache, partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
from pyproj import Transformer

from grunndata.errors import GrunndataError
from grunndata.geometry import reproject
from grunndata.registry import Dataset

from .detect import detect
from .frames import table_frame
from .report import Report, Result
from .sosi import NO_KOORDSYS_RULE, read_sosi
from .va_gml import records_from_gml

_DATA = Path(__file__).parent / "data"
MALEMETODE = {"11": "terrengmålt (totalstasjon)", "92": "GNSS kodemåling", "96": "GNSS RTK", "97": "GNSS float",
              "82": "digitalisert frå kart", "10": "terrengmålt"}  # 82/10: common SOSI codes seen in old exports


@cache
def codes() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = defaultdict(dict)
    with open(_DATA / "va_kodar.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out[r["liste"]][r["kode"]] = r["namn"]
    return dict(out)


def _int(value: object) -> int | None:
    try:
        return int(float(str(value).replace(",", "."))) if value not in (None, "") else None
    except ValueError:
        return None


def _records_from_sosi(path: Path, report: Report, epsg: int | None = None) -> tuple[list[dict], list[dict]]:
    sosi = read_sosi(path)
    # a file in another zone (KOORDSYS 23 = UTM 33 …) is moved into the dataset's CRS, its heights kept
    transformer = Transformer.from_crs(sosi.epsg, epsg, always_xy=True) if sosi.epsg and epsg and \
        sosi.epsg != epsg else None
    for note in sosi.notes:  # e.g. no KOORDSYS: objects counted, geometry not placed
        if note.startswith(NO_KOORDSYS_RULE):
            report.warning(NO_KOORDSYS_RULE, note.split(": ", 1)[1], path)
    lines, points = [], []
    for o in sosi.objects:
        flat = o.flat()
        group = "EGS_LEDNING" if "EGS_LEDNING" in o.attrs else "EGS_PUNKT" if "EGS_PUNKT" in o.attrs else None
        if group is None or o.geometry is None:
            continue
        attrs = {k.split(".", 1)[1]: v for k, v in flat.items() if k.startswith(group + ".")}
        attrs.update({"OBJTYPE": flat.get("OBJTYPE"), "KVALITET": flat.get("KVALITET", ""), "_line": o.line,
                      "_serial": o.id,
                      "geometry": reproject(o.geometry, transformer, keep_z=True) if transformer else o.geometry})
        (lines if group == "EGS_LEDNING" else points).append(attrs)
        for problem in o.problems:  # the reader dropped an object's heights (..NØ and ..NØH in one object)
            if "heights dropped" in problem:
                report.warning("blanda-hogder", f"SID {attrs.get('SID')}: {problem}", path, o.line,
                               f"SID {attrs.get('SID')}")
    if not lines and not points:
        report.error("ikkje-va-eksport", "no ..EGS_LEDNING / ..EGS_PUNKT objects: not a VA export", path)
    return lines, points


def _records_from_gpkg(path: Path, report: Report) -> tuple[list[dict], list[dict]]:
    layers = {name for name, _ in pyogrio.list_layers(path)}
    if not {"ledning", "punkt"} <= layers:
        report.error("ikkje-va-eksport", f"layers {sorted(layers)}; expected 'ledning' and 'punkt'", path)
        return [], []
    out = []
    for layer in ("ledning", "punkt"):
        frame = pyogrio.read_dataframe(path, layer=layer)
        recs = frame.drop(columns="geometry").to_dict("records")
        for i, (rec, geom) in enumerate(zip(recs, frame.geometry, strict=True)):
            rec.update({"_line": None, "_serial": i + 1, "geometry": geom})
            for k, v in list(rec.items()):
                if isinstance(v, float) and pd.isna(v):
                    rec[k] = None
        out.append(recs)
    return out[0], out[1]


def _quality(kvalitet: str) -> tuple[str | None, int | None]:
    parts = str(kvalitet or "").split()
    return (parts[0] if parts else None), (_int(parts[1]) if len(parts) > 1 else None)


def _check(value: object, listname: str, rec: dict, path: Path, report: Report) -> str | None:
    if value in (None, ""):
        return None
    name = codes()[listname].get(str(value))
    if name is None:
        report.warning("ukjend-kode", f"SID {rec.get('SID')}: {listname} '{value}' is not in the code list",
                       path, rec["_line"], f"SID {rec.get('SID')}")
    return name


def _one_dimension(recs: list[dict], table: str, path: Path, report: Report) -> None:
    """A table is 3-D only when every object in it has a height; when some have none, all go 2-D and a warning
    names how many (and the first SIDs), so the export can be fixed at its source.

    Why this rule: a geometry column is 2-D or 3-D as a whole (the GeoPackage z flag, PostGIS LineStringZ), a
    NaN height is valid in neither, and Z=0 for the objects without one would be a made-up height that a GIS
    user reads as measured (0 m above sea level, next to pipes at 40 m). A 2-D table with honest positions is
    what QGIS, MapServer and every OGC client handle; points keep their height in `hoyde` either way."""
    with_z = [r for r in recs if r["geometry"] is not None and r["geometry"].has_z]
    if not with_z or len(with_z) == len(recs):
        return
    flat = [r for r in recs if r["geometry"] is not None and not r["geometry"].has_z]
    sids = ", ".join(str(r.get("SID")) for r in flat[:5]) + (" …" if len(flat) > 5 else "")
    report.warning("blanda-hogder", f"{table}: {len(flat)} of {len(recs)} objects have no height (2-D, e.g. "
                   f"SID {sids}); the table is published 2-D and the heights of the other {len(with_z)} are "
                   "dropped", path, flat[0]["_line"], table)
    for r in recs:
        r["geometry"] = shapely.force_2d(r["geometry"]) if r["geometry"] is not None else None


def _height_range(rows: list[dict]) -> str:
    """The heights of a table's coordinates as 'min .. max m', or 'none (2-D)' (the validate summary)."""
    geoms = np.array([r["geometry"] for r in rows], dtype=object)
    zs = shapely.get_coordinates(geoms[shapely.has_z(geoms)], include_z=True)[:, 2] if len(geoms) else []
    return f"{np.min(zs):.2f} .. {np.max(zs):.2f} m" if len(zs) else "none (2-D)"


def run(dataset: Dataset, sources: dict[str, Path] | None = None) -> Result:
    sources = sources or {}
    report = Report(dataset.id)
    path = sources.get("eksport", dataset.source_path("eksport"))
    fmt = detect(path).format if path.is_file() else "unreadable"  # by content, not by the file's name
    readers = {"gpkg": _records_from_gpkg, "gml": records_from_gml,
               "sosi": partial(_records_from_sosi, epsg=pyproj.CRS(dataset.crs).to_epsg())}
    if fmt not in readers:
        what = "unsupported format" if fmt == "unsupported" else "unreadable file"
        raise GrunndataError(f"{path}: {what}: a VA export is SOSI, GML or GeoPackage (rule: filformat)",
                             hint=f"found: {detect(path).detail if path.is_file() else 'no such file'}")
    lines, points = readers[fmt](path, report)
    for rec in points:  # a point keeps its height in `hoyde` even when its table goes 2-D
        g = rec["geometry"]
        rec["_hoyde"] = round(g.z, 2) if g is not None and g.has_z else None
    _one_dimension(lines, "ledning", path, report)
    _one_dimension(points, "punkt", path, report)
    point_sids = {str(p.get("SID")) for p in points}
    sid_count = Counter(str(r.get("SID")) for r in [*lines, *points])
    for rec in [*lines, *points]:
        n = sid_count[str(rec.get("SID"))]
        if n > 1:
            report.warning("dobbel-sid", f"SID {rec.get('SID')} is used by {n} objects ({rec.get('OBJTYPE')} "
                           f"#{rec['_serial']} is one)", path, rec["_line"], f"SID {rec.get('SID')}")
    seen_geom: dict[tuple, int] = {}
    led_rows = []
    for rec in lines:
        geom = rec["geometry"]  # 3-D when the source has heights (see _one_dimension)
        where = f"SID {rec.get('SID')}"
        tema = rec.get("L_TEMA")
        dim = _int(rec.get("DIMENSJON"))
        if dim is None:
            report.warning("manglar-dimensjon", f"{where}: {rec.get('OBJTYPE')} without DIMENSJON", path,
                           rec["_line"], where)
        for end in ("FSID", "TSID"):
            if rec.get(end) not in (None, "") and str(_int(rec.get(end))) not in point_sids:
                report.warning("hengande-ledning", f"{where}: {end} {rec.get(end)} names no point in the export",
                               path, rec["_line"], where)
        key = (tema, shapely.normalize(shapely.force_2d(geom)).wkb)  # doubled in plan, whatever the heights
        if key in seen_geom:
            report.warning("dobbel-ledning", f"{where}: the same {tema} pipe as SID {seen_geom[key]}", path,
                           rec["_line"], where)
        seen_geom.setdefault(key, rec.get("SID"))
        metode, noyaktig = _quality(rec.get("KVALITET"))
        led_rows.append({
            "ledning_id": f"L{rec['_serial']}", "sid": _int(rec.get("SID")), "objekttype": rec.get("OBJTYPE"),
            "tema": tema, "tema_namn": _check(tema, "tema_led", rec, path, report),
            "nettype": rec.get("NETTYPE"), "nettype_namn": _check(rec.get("NETTYPE"), "nettype", rec, path, report),
            "dimensjon": dim, "material": rec.get("MATERIAL"),
            "material_namn": _check(rec.get("MATERIAL"), "material", rec, path, report),
            "anleggsar": _int(rec.get("ANLEGGSÅR")), "eigar": rec.get("EIER"),
            "eigar_namn": _check(rec.get("EIER"), "eier", rec, path, report),
            "trykklasse": rec.get("TRYKKLAS") or None, "fsid": _int(rec.get("FSID")), "tsid": _int(rec.get("TSID")),
            "malemetode": MALEMETODE.get(metode or "", metode), "noyaktigheit_cm": noyaktig,
            "lengde_m": round(geom.length, 2), "geometry": geom})  # length in plan (GEOS ignores Z), as VA systems
    pkt_rows = []
    for rec in points:
        geom = rec["geometry"]
        metode, noyaktig = _quality(rec.get("KVALITET"))
        tema = rec.get("P_TEMA")
        pkt_rows.append({
            "punkt_id": f"P{rec['_serial']}", "sid": _int(rec.get("SID")), "objekttype": rec.get("OBJTYPE"),
            "tema": tema, "tema_namn": _check(tema, "tema_punkt", rec, path, report),
            "funksjon": rec.get("FUNKSJON"), "anleggsar": _int(rec.get("ANLEGGSÅR")), "eigar": rec.get("EIER"),
            "hoyde": rec["_hoyde"],
            "malemetode": MALEMETODE.get(metode or "", metode), "noyaktigheit_cm": noyaktig,
            "geometry": geom})
    tables = {"ledning": table_frame(led_rows, dataset, "ledning"), "punkt": table_frame(pkt_rows, dataset, "punkt")}
    report.counts.update({"ledning": len(led_rows), "punkt": len(pkt_rows),
                          "km": round(sum(r["lengde_m"] for r in led_rows) / 1000, 1),
                          "ledning_hogder": _height_range(led_rows), "punkt_hogder": _height_range(pkt_rows)})
    return Result(tables, report)
