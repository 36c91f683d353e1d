"""Source kind `plan`: a folder of SOSI/GML plans + planregister, documents, dispensations, scanned plankart.

read (pipelines.sosi / pipelines.plan_gml) -> validate + normalise (pipelines.plan_model) -> tables.
Every plan gets its own report beside the dataset's (reports/<dataset>/<plan_id>.{json,txt}). Files that
are served (PDFs, COGs) are copied into the data directory under content-derived names, so a failed build
leaves the published version's files untouched.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from shapely.geometry import Point

from grunndata.errors import GrunndataError
from grunndata.registry import Dataset
from grunndata.settings import get_settings

from .frames import table_frame
from .plan_model import PlanRows, normalise, read_plans
from .plankart import convert
from .report import Report, Result
from .sosi import SosiError
from .text import parse_date, parse_number, read_csv_rows

RASTER_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg"}


def _rule_of(message: str) -> str:
    m = re.search(r"\(rule: ([\w.-]+)\)", message)
    return m.group(1) if m else "gml-lesefeil"


def _line_of(message: str) -> int | None:
    m = re.match(r"[^:]+:(\d+):", message)
    return int(m.group(1)) if m else None


def _read_csv(path: Path, report: Report) -> list[tuple[int, dict[str, str]]]:
    if not path.exists():
        report.warning("manglar-fil", "file not found; the column stays empty", path)
        return []
    # the shared reader: a row with the wrong number of fields or a cut last row (rule avkutta-linje) is an
    # error naming file:line, not a row silently padded with empty values
    return read_csv_rows(path, [])[0]


def _publish_file(src: Path, files_dir: Path) -> str:
    """Copy to <data>/filer/<digest>/<name> unless there; returns the path relative to <data>/filer."""
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    rel = f"{digest}/{src.name}"
    dst = files_dir / rel
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(dst.suffix + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    return rel


def run(dataset: Dataset, sources: dict[str, Path] | None = None, repair: bool = False) -> Result:
    """`repair`: make invalid surfaces valid (reporting area before and after) instead of rejecting them."""
    sources = sources or {}
    settings = get_settings()
    report = Report(dataset.id)
    src = {key: sources.get(key, dataset.source_path(key)) for key in dataset.source.files}
    target = int(dataset.crs.split(":")[1])
    folder = src["planar"]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".sos", ".gml")) if folder.is_dir() \
        else [folder]
    plans: dict[str, PlanRows] = {}
    per_plan: dict[str, Report] = {}
    for path in files:
        sub = Report(path.stem)
        try:
            inputs = read_plans(path, sub)
        except SosiError as exc:  # unreadable file: its error, then go on to report every other file
            sub.error(exc.rule or "sosi-syntaks", exc.detail or str(exc).split(": ", 1)[-1], path, exc.line)
            inputs = []
        except GrunndataError as exc:  # GML that is not well-formed or not Plan 5.0
            sub.error(_rule_of(str(exc)), str(exc), path, _line_of(str(exc)))
            inputs = []
        except Exception as exc:  # noqa: BLE001 - a defect in one plan never stops the others
            sub.error("lesefeil", f"{type(exc).__name__}: {exc}", path)
            inputs = []
        for plan in inputs:
            try:
                rows = normalise(plan, sub, target, repair)
            except Exception as exc:  # noqa: BLE001 - geometry code failing on one plan is that plan's error
                sub.error("geometri-feil", f"{plan.plan_id}: {type(exc).__name__}: {exc}", path, plan.line,
                          plan.plan_id)
                rows = None
            if rows is not None:
                if rows.plan["plan_id"] in plans:
                    sub.error("dobbel-plan", f"plan {rows.plan['plan_id']} is also in "
                              f"{plans[rows.plan['plan_id']].plan['kjelde']}", path, plan.line)
                    continue
                plans[rows.plan["plan_id"]] = rows
            sub.dataset_id = plan.plan_id
        per_plan[sub.dataset_id] = sub
        report.findings.extend(sub.findings)
    _join_register(plans, src.get("planregister"), report)
    docs = _documents(plans, src.get("dokument"), settings.data_dir / "filer", report)
    disp = _dispensations(plans, src.get("dispensasjonar"), report)
    kart = _plankart(plans, src.get("plankart"), settings.data_dir, dataset.crs, report)
    tables: dict[str, list[dict]] = {t.name: [] for t in dataset.schema_}
    for rows in plans.values():
        tables["arealplan"].append(rows.plan)
        for name, items in rows.rows.items():
            tables[name].extend(items)
    tables["plandokument"], tables["dispensasjon"], tables["plankart"] = docs, disp, kart
    frames = {name: table_frame(rows, dataset, name) for name, rows in tables.items()}
    report.counts.update({"planfiler": len(files), "planar": len(plans),
                          **{name: len(f) for name, f in frames.items() if name != "arealplan"}})
    return Result(frames, report, sub_reports=per_plan)


def _join_register(plans: dict[str, PlanRows], path: Path | None, report: Report) -> None:
    for rows in plans.values():
        rows.plan.update({"saksnummer": None, "erstatta_av": None, "endra_av": None, "plankart": False})
    if path is None:
        return
    for line, row in _read_csv(path, report):
        plan = plans.get(row.get("plan_id", ""))
        if plan is None:
            report.warning("ukjend-plan", f"planregister names plan '{row.get('plan_id')}', which has no plan file",
                           path, line)
            continue
        for key in ("saksnummer", "erstatta_av", "endra_av"):
            plan.plan[key] = row.get(key) or None
        for ref in filter(None, [row.get("erstatta_av"), *(row.get("endra_av") or "").split()]):
            if ref not in plans:
                report.warning("ukjend-plan", f"{row['plan_id']}: refers to plan '{ref}', which has no plan file",
                               path, line)


def _anchor(plan: PlanRows):
    geom = plan.plan["geometry"]
    return geom.representative_point() if geom is not None else None


def _documents(plans: dict[str, PlanRows], path: Path | None, files_dir: Path, report: Report) -> list[dict]:
    out: list[dict] = []
    if path is None:
        return out
    for line, row in _read_csv(path, report):
        plan = plans.get(row.get("plan_id", ""))
        if plan is None:
            report.warning("ukjend-plan", f"document for unknown plan '{row.get('plan_id')}'", path, line)
            continue
        doc = path.parent / row["fil"]
        if not doc.exists():
            report.error("manglar-dokument", f"{row['fil']} does not exist", path, line, row.get("dokument_id"))
            continue
        dato = None
        if row.get("dato"):
            try:
                dato = parse_date(row["dato"])
            except ValueError as exc:
                report.error("ugyldig-dato", str(exc), path, line, row.get("dokument_id"))
        rel = _publish_file(doc, files_dir)
        out.append({"dokument_id": row["dokument_id"], "plan_id": plan.plan["plan_id"],
                    "dokumenttype": row["dokumenttype"], "tittel": row["tittel"], "url": f"/filer/{rel}",
                    "format": doc.suffix.lstrip(".").lower(), "dato": dato, "geometry": _anchor(plan)})
    return out


def _dispensations(plans: dict[str, PlanRows], path: Path | None, report: Report) -> list[dict]:
    out: list[dict] = []
    if path is None:
        return out
    for line, row in _read_csv(path, report):
        if row.get("plan_id") not in plans:
            report.warning("ukjend-plan", f"dispensation for unknown plan '{row.get('plan_id')}'", path, line)
            continue
        try:
            when = parse_date(row["vedtaksdato"])
            point = Point(parse_number(row["aust"]), parse_number(row["nord"]))
            gnr, bnr = int(row["gnr"]), int(row["bnr"])
        except (ValueError, KeyError) as exc:
            report.error("ugyldig-verdi", str(exc), path, line, row.get("dispensasjon_id"))
            continue
        out.append({"dispensasjon_id": row["dispensasjon_id"], "plan_id": row["plan_id"],
                    "saksnummer": row["saksnummer"] or None, "vedtaksdato": when, "gnr": gnr, "bnr": bnr,
                    "tema": row["tema"], "vedtak": row["vedtak"], "geometry": point})
    return out


def _plankart(plans: dict[str, PlanRows], folder: Path | None, data_dir: Path, crs: str,
              report: Report) -> list[dict]:
    out: list[dict] = []
    if folder is None or not folder.is_dir():
        return out
    for image in sorted(p for p in folder.iterdir() if p.suffix.lower() in RASTER_SUFFIXES):
        planid = image.stem.split("_")[0]
        plan_id = next((k for k in plans if k.endswith(f"_{planid}")), None)
        if plan_id is None:
            report.warning("ukjend-plan", f"scanned plankart for unknown plan '{planid}'", image)
            continue
        done = convert(image, data_dir / "raster" / "plankart", crs, report, plan_id)
        if done is None:
            continue
        cog, footprint = done
        plans[plan_id].plan["plankart"] = True
        out.append({"plankart_id": plan_id, "plan_id": plan_id, "fil": str(cog.relative_to(data_dir)),
                    "kjelde": image.name, "geometry": footprint})
    return out
