"""Source kind `lims_csv`: drinking-water analyses as a lab (LIMS) exports them, plus the sample-point register.

Lab file: `;`-separated, cp1252 or UTF-8, decimal comma, dd.mm.yyyy, qualifiers `<1`, `>200`, `i.p.`,
labels as in drikkevannsforskriften or Eurofins' numbered labels. Every row is checked and every
problem reported with file, line and rule; any error fails the build and nothing is published.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from grunndata.errors import GrunndataError
from grunndata.registry import Dataset

from .drikkevatn_grenser import convert, limits, parameter_for
from .report import Report, Result
from .text import parse_date, parse_number, read_csv_rows

LAB_COLUMNS = ["Prøvenr", "Prøvepunkt", "Prøvetakingsdato", "Parameter", "Resultat", "Eining", "Status"]
# dataset.yml source.options.lab_format: how this lab's export is laid out (a new lab shape is configuration):
#   layout: long (a row per analysis, the default) | wide (a row per sample, a column per parameter)
#   columns: {provenr: …, provepunkt: …, dato: …, parameter: …, resultat: …, eining: …, status: …}  (header names)
#   ignore: [header, …]  (wide: columns that are neither sample fields nor parameters)
ROLES = dict(zip(("provenr", "provepunkt", "dato", "parameter", "resultat", "eining", "status"), LAB_COLUMNS,
                 strict=True))
OPTIONAL_ROLES = {"eining", "status"}
RAW_WATER = {"råvatn", "råvann", "ravatn", "raavatn", "ravann", "raavann", "råvassprøve", "råvannsprøve", "raw"}
POINT_COLUMNS = ["provepunkt_id", "namn", "vassverk", "forsyningssone", "type", "aust", "nord"]
NOT_ANALYSED = {"", "-", "--", "n.a.", "ia", "i.a.", "#verdi!", "#value!", "#n/a", "n/a", "#i/t", "#na",
                "ikkje analysert", "ikke analysert"}
NOT_DETECTED = {"i.p.", "ip", "i.p", "ikkje påvist", "ikke påvist", "n.d.", "nd"}
APPROVED = {"", "godkjent", "godkjend"}
_QUALIFIED = re.compile(r"^([<>])\s*(.+)$")
SEVERITY = {"ok": 0, "ikkje_vurdert": 0, "over_tiltaksgrense": 1, "over_grenseverdi": 2}
POINT_STATUS = {0: "ok", 1: "tiltaksgrense_overskriden", 2: "grenseverdi_overskriden"}


def parse_result(text: str) -> tuple[float | None, str]:
    """Lab result -> (value, qualifier). Raises ValueError for what is not a result."""
    t = text.strip()
    if t.lower() in NOT_DETECTED:
        return None, "i.p."
    m = _QUALIFIED.match(t)
    if m:
        return parse_number(m.group(2)), m.group(1)
    return parse_number(t), ""


def read_points(path: Path, crs: str, report: Report) -> gpd.GeoDataFrame:
    rows, _ = read_csv_rows(path, POINT_COLUMNS)
    records, seen = [], set()
    for line, r in rows:
        pid = r["provepunkt_id"]
        if pid in seen:
            report.error("dobbel-rad", f"prøvepunkt '{pid}' finst alt", path, line, pid)
            continue
        seen.add(pid)
        try:
            x, y = parse_number(r["aust"]), parse_number(r["nord"])
        except ValueError as exc:
            report.error("ugyldig-koordinat", str(exc), path, line, pid)
            continue
        if not (100_000 <= x <= 1_200_000 and 6_400_000 <= y <= 8_000_000):
            report.error("ugyldig-koordinat", f"({x}, {y}) ligg ikkje i Noreg i {crs}", path, line, pid)
            continue
        kind = "råvatn" if r["type"].strip().lower() in RAW_WATER else r["type"]
        records.append({"provepunkt_id": pid, "namn": r["namn"], "vassverk": r["vassverk"],
                        "forsyningssone": r["forsyningssone"], "type": kind, "geometry": Point(x, y)})
    return gpd.GeoDataFrame(records, geometry="geometry", crs=crs)


def lab_rows(path: Path, fmt: dict | None, report: Report) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """The lab file as long rows keyed by LAB_COLUMNS, whatever its layout (see ROLES / source.options)."""
    fmt = fmt or {}
    layout = fmt.get("layout", "long")
    names = {role: (fmt.get("columns") or {}).get(role, default) for role, default in ROLES.items()}
    if layout == "long":
        required = [names[r] for r in ROLES if r not in OPTIONAL_ROLES or "columns" not in fmt or r in fmt["columns"]]
        rows, encoding = read_csv_rows(path, required)
        return [(line, {col: r.get(names[role], "") for role, col in ROLES.items()}) for line, r in rows], encoding
    if layout != "wide":
        raise ValueError(f"lab_format.layout '{layout}': expected long or wide")
    sample_roles = ("provenr", "provepunkt", "dato", "status")
    required = [names[r] for r in sample_roles if r != "status" or r in (fmt.get("columns") or {})]
    rows, encoding = read_csv_rows(path, required)
    fixed = {names[r] for r in sample_roles} | set(fmt.get("ignore") or [])
    out: list[tuple[int, dict[str, str]]] = []
    if not rows:
        return out, encoding
    params = [c for c in rows[0][1] if c not in fixed and c.strip()]
    known = {c for c in params if parameter_for(c)[0] is not None}
    for c in params:
        if c not in known:
            report.warning("ukjend-parameter-kolonne", f"kolonna '{c}' er ikkje ein kjend parameter i "
                           "drikkevassforskrifta; ikkje lesen (lab_format.ignore for å teie)", path, 1, c)
    for line, r in rows:
        for c in params:
            if c not in known or not r.get(c, "").strip():
                continue  # a blank cell in a wide export: that parameter was not analysed in this sample
            out.append((line, {"Prøvenr": r[names["provenr"]], "Prøvepunkt": r[names["provepunkt"]],
                               "Prøvetakingsdato": r[names["dato"]], "Parameter": c, "Resultat": r[c],
                               "Eining": "", "Status": r.get(names["status"], "")}))
    return out, encoding


def read_analyses(path: Path, points: gpd.GeoDataFrame, report: Report, fmt: dict | None = None) -> list[dict]:
    rows, encoding = lab_rows(path, fmt, report)
    if encoding != "utf-8-sig":
        report.warning("teiknsett", f"fila er ikkje UTF-8; lesen som {encoding}", path)
    raw_water = set(points.loc[points["type"] == "råvatn", "provepunkt_id"]) if len(points) else set()
    known = set(points["provepunkt_id"])
    seen: dict[tuple[str, str], int] = {}
    out = []
    today = date.today()
    for line, r in rows:
        label, pid, raw = r["Parameter"], r["Prøvepunkt"], r["Resultat"].strip()
        feature = f"{r['Prøvenr']}/{label}"
        if r["Status"].lower() not in APPROVED:
            report.warning("ikkje-godkjend", f"status '{r['Status']}': ikkje publisert før laben har godkjent",
                           path, line, feature)
            continue
        parameter, inline_unit = parameter_for(label)
        if parameter is None:
            report.error("ukjend-parameter", f"'{label}' er ikkje ein kjend parameter i drikkevassforskrifta "
                         "(sjå pipelines/data/drikkevatn_parameternamn.csv)", path, line, feature)
            continue
        if pid not in known:
            report.error("ukjent-provepunkt", f"prøvepunkt '{pid}' finst ikkje i prøvepunktregisteret", path, line,
                         feature)
            continue
        try:
            taken = parse_date(r["Prøvetakingsdato"])
        except ValueError as exc:
            report.error("ugyldig-dato", str(exc), path, line, feature)
            continue
        if taken > today:
            report.error("ugyldig-dato", f"prøvedato {taken} er fram i tid", path, line, feature)
            continue
        if raw.lower() in NOT_ANALYSED:
            report.warning("ikkje-analysert", f"'{raw}' er ikkje eit resultat; rada er utelaten", path, line, feature)
            continue
        try:
            value, qualifier = parse_result(raw)
        except ValueError as exc:
            report.error("umogleg-verdi", str(exc), path, line, feature)
            continue
        limit = limits()[parameter]
        unit = r["Eining"].strip() or inline_unit or limit.unit  # none in the file: the parameter table's
        factor = convert(unit, parameter)
        if factor is None:
            report.error("eining-passar-ikkje", f"eininga '{unit}' passar ikkje for {limit.names['nn']} "
                         f"(ventar {limit.unit})", path, line, feature)
            continue
        if factor != 1:
            report.warning("eining-omrekna", f"{raw} {unit} omrekna til {limit.unit}", path, line, feature)
        if value is not None:
            value = round(value * factor, 6)
            if value < 0 or (parameter == "ph" and not 0 <= value <= 14):
                report.error("umogleg-verdi", f"{raw} {unit} er ikkje ein mogleg verdi for {limit.names['nn']}",
                             path, line, feature)
                continue
        key = (r["Prøvenr"], parameter)
        if key in seen:
            report.error("dobbel-rad", f"prøve {r['Prøvenr']} har {limit.names['nn']} alt på linje {seen[key]}",
                         path, line, feature)
            continue
        seen[key] = line
        out.append({
            "analyse_id": f"{r['Prøvenr']}-{parameter}", "provenr": r["Prøvenr"], "provepunkt_id": pid,
            "provetaken": taken.isoformat(), "parameter": parameter, "parameter_namn": limit.names["nn"],
            "verdi": value, "kvalifikator": qualifier or None, "eining": limit.unit,
            "original_resultat": raw, "original_eining": unit or None,
            "grense_type": limit.kind, "grense_min": limit.min, "grense_maks": limit.max,
            "grense_samanlikning": limit.comparison, "grense_kjelde": limit.source,
            # drikkevassforskrifta judges treated water only: a raw-water sample is published, not judged
            "grense_verifisert": limit.verified,
            "status": "ikkje_vurdert" if pid in raw_water else limit.judge(value, qualifier),
        })
    return out


def summarise(points: gpd.GeoDataFrame, analyses: pd.DataFrame) -> gpd.GeoDataFrame:
    """Each sample point with the status of its latest sample and exceedances in the last 12 months."""
    points = points.copy()
    latest_all = analyses["provetaken"].max() if len(analyses) else None
    since = (date.fromisoformat(latest_all) - timedelta(days=365)).isoformat() if latest_all else None
    by_point = defaultdict(list)
    for rec in analyses.to_dict("records"):
        by_point[rec["provepunkt_id"]].append(rec)
    status, last, count12, n = [], [], [], []
    for pid, kind in zip(points["provepunkt_id"], points["type"], strict=True):
        recs = by_point.get(pid, [])
        if recs and kind == "råvatn":  # labelled as raw water, never as a breach of drikkevassforskrifta
            status.append("ravatn"), last.append(max(r["provetaken"] for r in recs)), count12.append(0)
            n.append(len(recs))
            continue
        if not recs:
            status.append("ingen_data"), last.append(None), count12.append(0), n.append(0)
            continue
        newest = max(r["provetaken"] for r in recs)
        worst = max(SEVERITY[r["status"]] for r in recs if r["provetaken"] == newest)
        status.append(POINT_STATUS[worst])
        last.append(newest)
        count12.append(sum(1 for r in recs if r["provetaken"] >= since and SEVERITY[r["status"]] > 0))
        n.append(len(recs))
    points["status"] = status
    points["siste_prove"] = last
    points["overskridingar_12_mnd"] = count12
    points["tal_analysar"] = n
    return points


def run(dataset: Dataset, sources: dict[str, Path] | None = None) -> Result:
    sources = sources or {}
    report = Report(dataset.id)
    points_path = sources.get("provepunkt", dataset.source_path("provepunkt"))
    lab_path = sources.get("provar", dataset.source_path("provar"))
    points = read_points(points_path, dataset.crs, report)
    try:
        records = read_analyses(lab_path, points, report, dataset.source.options.get("lab_format"))
    except ValueError as exc:
        raise GrunndataError(f"{dataset.id}: source.options.lab_format: {exc}",
                             hint="layout: long | wide; columns: {provenr: …, provepunkt: …, dato: …}") from None
    frame = pd.DataFrame.from_records(records)
    geo = points.set_index("provepunkt_id").geometry
    analyses = gpd.GeoDataFrame(
        frame, geometry=[geo[p] for p in frame["provepunkt_id"]] if len(frame) else [], crs=dataset.crs)
    if len(analyses):
        works = points.set_index("provepunkt_id")["vassverk"]
        analyses.insert(3, "vassverk", works.loc[analyses["provepunkt_id"]].values)
        analyses = analyses.sort_values(["provepunkt_id", "provetaken", "parameter"], ignore_index=True)
    summary = summarise(points, analyses)
    over = int(analyses["status"].str.startswith("over").sum()) if len(analyses) else 0
    report.counts.update({"provepunkt": len(summary), "analysar": len(analyses), "overskridingar": over})
    return Result({"provepunkt": summary, "analysar": analyses}, report)
