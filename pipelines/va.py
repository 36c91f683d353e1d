"""Source kind `va`: a VA export (Gemini/Powel-style SOSI, or the same attributes in a GeoPackage) -> ledning, punkt.

SOSI is read by the shared reader (pipelines/sosi.py); VA attributes sit in the ..EGS_LEDNING / ..EGS_PUNKT group.
Code lists are data (pipelines/data/va_kodar.csv). Operational data is published with its defects flagged, not
dropped: unknown codes, missing dimensions, lines whose FSID/TSID name no point, duplicated SIDs and doubled lines
are warnings naming the object (SID, SOSI serial) and the line; a file that is not a VA export is an error.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import pandas as pd
import pyogrio
import shapely

from grunndata.errors import GrunndataError
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


def _records_from_sosi(path: Path, report: Report) -> tuple[list[dict], list[dict]]:
    sosi = read_sosi(path)
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
                      "_serial": o.id, "geometry": o.geometry})
        (lines if group == "EGS_LEDNING" else points).append(attrs)
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


def run(dataset: Dataset, sources: dict[str, Path] | None = None) -> Result:
    sources = sources or {}
    report = Report(dataset.id)
    path = sources.get("eksport", dataset.source_path("eksport"))
    fmt = detect(path).format if path.is_file() else "unreadable"  # by content, not by the file's name
    readers = {"gpkg": _records_from_gpkg, "sosi": _records_from_sosi, "gml": records_from_gml}
    if fmt not in readers:
        what = "unsupported format" if fmt == "unsupported" else "unreadable file"
        raise GrunndataError(f"{path}: {what}: a VA export is SOSI, GML or GeoPackage (rule: filformat)",
                             hint=f"found: {detect(path).detail if path.is_file() else 'no such file'}")
    lines, points = readers[fmt](path, report)
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
        geom = shapely.force_2d(rec["geometry"])
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
        key = (tema, shapely.normalize(geom).wkb)
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
            "lengde_m": round(geom.length, 2), "geometry": geom})
    pkt_rows = []
    for rec in points:
        geom = rec["geometry"]
        metode, noyaktig = _quality(rec.get("KVALITET"))
        tema = rec.get("P_TEMA")
        pkt_rows.append({
            "punkt_id": f"P{rec['_serial']}", "sid": _int(rec.get("SID")), "objekttype": rec.get("OBJTYPE"),
            "tema": tema, "tema_namn": _check(tema, "tema_punkt", rec, path, report),
            "funksjon": rec.get("FUNKSJON"), "anleggsar": _int(rec.get("ANLEGGSÅR")), "eigar": rec.get("EIER"),
            "hoyde": round(geom.z, 2) if geom.has_z else None,
            "malemetode": MALEMETODE.get(metode or "", metode), "noyaktigheit_cm": noyaktig,
            "geometry": shapely.force_2d(geom)})
    tables = {"ledning": table_frame(led_rows, dataset, "ledning"), "punkt": table_frame(pkt_rows, dataset, "punkt")}
    report.counts.update({"ledning": len(led_rows), "punkt": len(pkt_rows),
                          "km": round(sum(r["lengde_m"] for r in led_rows) / 1000, 1)})
    return Result(tables, report)
