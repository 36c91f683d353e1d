"""`grunndata validate PATH`: check any file or folder before import, by its content; nothing is published.

The kind is detected from the content (pipelines/detect.py) unless --kind says it; the dataset is the one whose
source.kind it is (or --dataset). The pipeline runs exactly as in a build, then the table check of a build
(orchestration.build.check_schema); the store is never touched. One verdict line per file:
VALID (exit 0, warnings allowed), INVALID (exit 1), UNREADABLE / UNSUPPORTED (exit 2). A SOSI or GML file that no
dataset kind imports gets a read summary and "no dataset kind imports this" (exit 0: it was read).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grunndata.errors import GrunndataError
from grunndata.registry import Dataset, Registry
from pipelines import pipeline_for
from pipelines.detect import Detected, detect, summarise_gml, summarise_sosi
from pipelines.report import Report

from .build import check_schema

EXIT = {"VALID": 0, "READ": 0, "SKIPPED": 0, "INVALID": 1, "UNREADABLE": 2, "UNSUPPORTED": 2}
PLAN_SUFFIXES = {".sos", ".gml"}


@dataclass
class Verdict:
    path: Path
    verdict: str  # VALID | INVALID | READ | UNREADABLE | UNSUPPORTED
    line: str
    report: Report | None = None
    details: list[str] | None = None

    @property
    def code(self) -> int:
        return EXIT[self.verdict]


def _dataset_for(kind: str, registry: Registry, dataset_id: str | None) -> Dataset | None:
    if dataset_id:
        ds = registry.get(dataset_id)
        if ds.source.kind != kind:
            raise GrunndataError(f"--dataset {dataset_id} imports '{ds.source.kind}', the file is '{kind}'",
                                 hint="leave out --dataset, or give --kind")
        return ds
    return next((d for d in registry.datasets.values() if d.source.kind == kind), None)


def _sources(ds: Dataset, path: Path, detected: Detected) -> dict[str, Path | None]:
    keys = list(ds.source.files)
    if ds.source.kind == "plan":  # only the plan file(s): no register, documents or scans joined in
        return {k: (path if k == "planar" else None) for k in keys}
    if ds.source.kind == "noark5":  # the extract is the folder that holds arkivstruktur.xml
        return {"uttrekk": path.parent if path.is_file() else path}
    if detected.source_key in keys:
        return {detected.source_key: path}
    by_name = next((k for k in keys if k in path.stem.lower() or path.stem.lower() in k), None)
    return {by_name or keys[0]: path}


def _mapped_columns(mapping: object) -> set[str]:
    """Header names a dataset.yml column mapping reads (`columns: {field: "Header" | {column: "Header"} | ...}`)."""
    columns = mapping.get("columns", {}) if isinstance(mapping, dict) else {}
    out = set()
    for value in columns.values():
        if isinstance(value, str):
            out.add(value)
        elif isinstance(value, dict) and isinstance(value.get("column"), str):
            out.add(value["column"])
    return out


def _csv_by_mapping(path: Path, detected: Detected, registry: Registry, dataset_id: str | None) -> Detected:
    """A CSV that no built-in header matches may be a source whose columns a dataset.yml mapping names (a budget
    export, a lab with its own headers): the dataset whose mapping's header names are all in the file's header."""
    delim = (detected.source_key or "csv-header:;").split(":", 1)[1]
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            header = {c.strip().strip('"') for c in fh.readline().rstrip("\r\n").split(delim)}
    except OSError:
        return detected
    for ds in registry.datasets.values():
        if dataset_id and ds.id != dataset_id:
            continue
        options = ds.source.options or {}
        candidates = dict((options.get("mappings") or {}).items())
        if "lab_format" in options:
            candidates["provar"] = options["lab_format"]
        for key, mapping in candidates.items():
            cols = _mapped_columns(mapping)
            if cols and cols <= header and key in ds.source.files:
                return Detected("csv", ds.source.kind, f"CSV, '{key}' of {ds.id} by its column mapping", key)
    return detected


def validate_file(path: Path, registry: Registry, dataset_id: str | None = None, kind: str | None = None,
                  repair: bool = False, detected: Detected | None = None) -> Verdict:
    detected = detected or (detect(path) if path.is_file() else Detected("plan-folder", "plan", "plan folder"))
    if detected.format == "unsupported" and (detected.source_key or "").startswith("csv-header:") and not kind:
        detected = _csv_by_mapping(path, detected, registry, dataset_id)
    if detected.format in ("unreadable", "unsupported") and not kind:
        verdict = "UNREADABLE" if detected.format == "unreadable" else "UNSUPPORTED"
        what = "unreadable" if verdict == "UNREADABLE" else "unsupported format"
        return Verdict(path, verdict, f"{verdict}: {path}: {what} ({detected.detail})")
    kind = kind or detected.kind
    ds = _dataset_for(kind, registry, dataset_id) if kind else None
    if ds is None:
        return _summary(path, detected, kind)
    module = pipeline_for(kind)
    run: Callable = module.run
    extra = {"repair": repair} if "repair" in inspect.signature(run).parameters else {}
    if "ocr" in inspect.signature(run).parameters:  # validating never OCRs a whole archive (a build does)
        extra["ocr"] = False
    try:
        result = run(ds, _sources(ds, path, detected), **extra)
    except GrunndataError as exc:
        return Verdict(path, "INVALID", f"INVALID: {path}: {exc.message}")
    report = result.report
    if not report.errors:
        try:
            check_schema(ds, result.tables)
        except GrunndataError as exc:
            report.error("skjema", exc.message, path)
    n_err, n_warn = len(report.errors), len(report.warnings)
    verdict = "INVALID" if n_err else "VALID"
    line = (f"{verdict}: {path} ({detected.detail or detected.format}; kind {kind}, dataset {ds.id}): "
            f"{n_err} error(s), {n_warn} warning(s)")
    if n_err:
        line += f"; first: {report.errors[0]}"
    return Verdict(path, verdict, line, report)


def _summary(path: Path, detected: Detected, kind: str | None) -> Verdict:
    if kind:
        return Verdict(path, "UNSUPPORTED", f"UNSUPPORTED: {path}: no dataset imports kind '{kind}'")
    try:
        if detected.format == "sosi":
            summary = summarise_sosi(path)
        elif detected.format == "gml":
            summary = summarise_gml(path)
        else:
            return Verdict(path, "READ", f"READ: {path}: {detected.detail}; no dataset kind imports this")
    except GrunndataError as exc:
        return Verdict(path, "INVALID", f"INVALID: {path}: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - the summary of a file no one imports must not crash
        return Verdict(path, "UNREADABLE", f"UNREADABLE: {path}: {type(exc).__name__}: {exc}")
    total = sum(summary.objects.values())
    return Verdict(path, "READ", f"READ: {path} ({detected.detail}): {total} objects; no dataset kind imports this",
                   details=summary.lines())


def validate_path(path: Path, registry: Registry, dataset_id: str | None = None, kind: str | None = None,
                  repair: bool = False) -> list[Verdict]:
    """A file, or a folder: a folder of plans (SOSI/GML) is validated as one plan folder (every plan its own
    report, cross-file references resolved); any other folder file by file."""
    if not path.exists():
        return [Verdict(path, "UNREADABLE", f"UNREADABLE: {path}: no such file or folder")]
    if path.is_file():
        return [validate_file(path, registry, dataset_id, kind, repair)]
    if (path / "arkivstruktur.xml").is_file() and kind in (None, "noark5"):  # a Noark 5 extract: one source
        return [validate_file(path, registry, dataset_id, "noark5", repair, detect(path / "arkivstruktur.xml"))]
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    detected = {p: detect(p) for p in files}
    plans = [p for p in files if detected[p].kind == "plan" and p.suffix.lower() in PLAN_SUFFIXES
             and p.parent == path]
    verdicts = []
    if plans and (kind in (None, "plan")):
        verdicts.append(validate_file(path, registry, dataset_id, "plan", repair,
                                      Detected("plan-folder", "plan", f"plan folder, {len(plans)} file(s)")))
    for p in files:
        if p not in plans:
            verdicts.append(validate_file(p, registry, dataset_id, kind, repair, detected[p]))
    if any(v.verdict != "UNSUPPORTED" for v in verdicts):  # documents, schemas, PDFs beside the data
        for v in verdicts:
            if v.verdict == "UNSUPPORTED":
                v.verdict, v.line = "SKIPPED", v.line.replace("UNSUPPORTED:", "SKIPPED:", 1)
    return verdicts
