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

from grunndata.registry import Dataset

from .drikkevatn_grenser import convert, limits, parameter_for
from .report import Report, Result
from .text import parse_date, parse_number, read_csv_rows

LAB_COLUMNS = ["Prøvenr", "Prøvepunkt", "Prøvetakingsdato", "Parameter", "Resultat", "Eining", "Status"]
POINT_COLUMNS = ["provepunkt_id", "namn", "vassverk", "forsyningssone", "type", "aust", "nord"]
NOT_ANALYSED = {"", "-", "--", "n.a.", "ia", "i.a.", "#verdi!", "#value!", "#n/a", "ikkje analysert"}
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
        records.append({"provepunkt_id": pid, "namn": r["namn"], "vassverk": r["vassverk"],
                        "forsyningssone": r["forsyningssone"], "type": r["type"], "geometry": Point(x, y)})
    return gpd.GeoDataFrame(records, geometry="geometry", crs=crs)


def read_analyses(path: Path, points: gpd.GeoDataFrame, report: Report) -> list[dict]:
    rows, encoding = read_csv_rows(path, LAB_COLUMNS)
    if encoding != "utf-8-sig":
        report.warning("teiknsett", f"fila er ikkje UTF-8; lesen som {encoding}", path)
    known = set(points["provepunkt_id"])
    seen: dict[tuple[str, str], int] = {}
    out = []
    today = date.today()
    for line, r in rows:
        label, pid, raw = r["Parameter"], r["Prøvepunkt"], r["Resultat"]
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
        unit = r["Eining"] or inline_unit or ""
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
            "grense_verifisert": limit.verified, "status": limit.judge(value, qualifier),
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
    for pid in points["provepunkt_id"]:
        recs = by_point.get(pid, [])
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
    records = read_analyses(lab_path, points, report)
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
