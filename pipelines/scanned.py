"""Scanned documents of the byggesak archive: a vendor's loose scans (index CSV) and OCR before publishing.

Loose scans are a folder of PDFs/TIFFs and an index CSV with one row per file: file, gnr, bnr, saksnummer, title,
date, document type, under the vendor's own column names, mapped in dataset.yml (`source.options.skanna_kolonner`:
{fil: Filnamn, gnr: Gardsnr, ...}). Every row is checked (file present and inside the folder, gnr/bnr numbers,
an ISO date, a saksnummer YYYY/N); an error names the index file, its line and the column.

`ocr_documents` OCRs every document that has no text layer (pipelines/ocr.py, page state in the store), puts
findings and unreadable pages in the review queue, and decides per document what is published: the redacted,
OCR'd PDF and its text (identifiers as [skjerma]) when every page is done and nothing waits for review; otherwise
nothing (status treng_ocr, til_gransking or halde_tilbake) and no URL.
"""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import date
from pathlib import Path

from grunndata.ocrstate import OcrState
from grunndata.settings import Settings

from . import ocr, screening
from .report import Report

COLUMNS = ("fil", "gnr", "bnr", "saksnummer", "tittel", "dato", "dokumenttype")
SUFFIXES = {".pdf", ".tif", ".tiff"}
_SAKSNR = re.compile(r"^\d{4}/\d{1,7}$")


def read_index(index: Path, mapping: dict[str, str], report: Report) -> list[dict]:
    """Rows of the index, with the standard keys; errors name file, line and column."""
    missing = [k for k in COLUMNS if k not in mapping]
    if missing:
        report.error("kolonnekart", f"source.options.skanna_kolonner names no column for {', '.join(missing)}",
                     index)
        return []
    if not index.is_file():
        report.error("manglar-indeks", "the index CSV of the loose scans is not there", index)
        return []
    text = index.read_text(encoding="utf-8-sig")
    dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=";,\t") if text.strip() else csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    absent = [mapping[k] for k in COLUMNS if mapping[k] not in (reader.fieldnames or [])]
    if absent:
        report.error("kolonne-manglar", f"column(s) {', '.join(absent)} not in the header", index, 1)
        return []
    rows = []
    folder = index.parent.resolve()
    for line, raw in enumerate(reader, 2):
        row = {k: (raw.get(mapping[k]) or "").strip() for k in COLUMNS}
        bad = _row_error(row, folder)
        if bad:
            col, msg = bad
            report.error("skanna-indeks", f"{mapping[col]}: {msg}", index, line, row["fil"] or None)
            continue
        rows.append({**row, "gnr": int(row["gnr"]), "bnr": int(row["bnr"]), "_path": folder / row["fil"],
                     "_line": line})
    return rows


def _row_error(row: dict, folder: Path) -> tuple[str, str] | None:
    name = row["fil"]
    if not name:
        return "fil", "no file named"
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or "\\" in name:
        return "fil", f"'{name}' is not a file in the scan folder"
    if path.suffix.lower() not in SUFFIXES:
        return "fil", f"'{name}' is not a PDF or TIFF"
    if not path.is_file():
        return "fil", f"'{name}' is not in the scan folder"
    for col in ("gnr", "bnr"):
        if not row[col].isdigit() or not 0 < int(row[col]) < 100_000:
            return col, f"'{row[col]}' is not a {col}"
    if not _SAKSNR.match(row["saksnummer"]):
        return "saksnummer", f"'{row['saksnummer']}' is not a saksnummer (YYYY/N)"
    try:
        date.fromisoformat(row["dato"])
    except ValueError:
        return "dato", f"'{row['dato']}' is not a date (YYYY-MM-DD)"
    return None


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ocr_documents(docs: list[dict], settings: Settings, report: Report) -> dict[str, float]:
    """OCR, screen and decide each document dict (keys _path, sha256, dokument_id; status treng_ocr) in place:
    sets status, tekst, sider, konfidens, funn and `_published` (the PDF bytes to publish, or None)."""
    state = OcrState(settings)
    jobs, pages_of = [], {}
    for d in docs:
        try:
            pages = ocr.split_pages(d["_path"])
        except Exception as exc:  # noqa: BLE001 - an unreadable scan is withheld and reported
            report.warning("skann-ulesbar", f"{d['fil']}: {type(exc).__name__}: {exc}", d["_path"])
            d.update(status="ulesbar", _published=None, _ocr=True)
            continue
        pages_of[d["dokument_id"]] = len(pages)
        jobs += [ocr.PageJob(d["sha256"], n, d["dokument_id"], data) for n, data in enumerate(pages, 1)]
    figures = ocr.run_pages(jobs, state, settings)
    for d in docs:
        if d["dokument_id"] not in pages_of:
            continue
        ocr.queue_for_review(state, d["dokument_id"], d["sha256"], settings.ocr_min_confidence)
        out = ocr.document_outcome(state, d["sha256"], pages_of[d["dokument_id"]], settings.ocr_min_confidence)
        # `_ocr`: only the OCR'd, redacted PDF may ever be published for it, never the scan itself
        d.update(status=out.status, tekst=out.text if out.status == "klar" else "", sider=out.pages,
                 konfidens=out.confidence, funn=out.findings, _ocr=True,
                 _published=out.pdf if out.status == "klar" else None)
        if out.status == "halde_tilbake":  # the reviewer's hjemmel, screened as every published text
            d["skjermingshjemmel"] = screening.redact(out.hjemmel) or ""
    return figures
