"""Reading what Norwegian systems export: unknown encodings, decimal commas, dd.mm.yyyy dates."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from pathlib import Path

from grunndata.errors import GrunndataError

# Tried in order. cp1252 last: it decodes almost any byte string, so it is the fallback for
# Excel/LIMS exports on Windows, which is what labs and case systems deliver.
ENCODINGS = ("utf-8-sig", "cp1252")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")


def read_text(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    for enc in ENCODINGS:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise GrunndataError(f"{path}: cannot decode as {' or '.join(ENCODINGS)}")


def read_csv_rows(path: Path, required: list[str]) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """Rows as (line number, {column: stripped value}); blank lines skipped. Delimiter sniffed (; or ,)."""
    if not path.exists():
        raise GrunndataError(f"{path}: file not found", hint="check source.files in dataset.yml or --source")
    text, enc = read_text(path)
    first = text.split("\n", 1)[0]
    delim = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise GrunndataError(f"{path}:1: empty file, expected a header row") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise GrunndataError(f"{path}:1: header lacks column(s) {missing}; found {header}",
                             hint=f"required columns: {', '.join(required)}")
    records = []  # (first line, last line, fields): a quoted value may span lines
    while True:
        start = reader.line_num + 1
        try:
            raw = next(reader)
        except StopIteration:
            break
        records.append((start, reader.line_num, raw))
    filled = [r for r in records if any(cell.strip() for cell in r[2])]
    if filled:
        _check_not_cut(path, text, delim, filled[-1][0], filled[-1][2], len(header))
    rows = []
    for _, line, raw in filled:
        if len(raw) != len(header):
            raise GrunndataError(f"{path}:{line}: {len(raw)} fields, header has {len(header)} (rule: felttal)",
                                 hint=f"is the delimiter '{delim}' used inside a value?")
        rows.append((line, {h: c.strip() for h, c in zip(header, raw, strict=True)}))
    return rows, enc


def _check_not_cut(path: Path, text: str, delim: str, start: int, raw: list[str], width: int) -> None:
    """The last record of a truncated export: fewer fields than the header, or the file ends inside a quoted
    value (the csv module then silently closes the value). A complete last row without a final newline passes."""
    if len(raw) < width:
        raise GrunndataError(f"{path}:{start}: the last row has {len(raw)} of {width} fields: the file ends "
                             "mid-row, truncated export? (rule: avkutta-linje)",
                             hint="export the file again; the published version is unchanged")
    tail = "".join(io.StringIO(text).readlines()[start - 1:])
    try:
        for _ in csv.reader(io.StringIO(tail), delimiter=delim, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise GrunndataError(f"{path}:{start}: the file ends inside a quoted value opened in the last row: "
                                 "truncated export? (rule: avkutta-linje)",
                                 hint="export the file again; the published version is unchanged") from None


def parse_number(text: str) -> float:
    """'1 234,5' / '1234.5' / '7,40' -> float. Raises ValueError on anything else."""
    t = text.replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not _NUMBER.match(t):
        raise ValueError(f"'{text}' is not a number")
    return float(t)


def parse_date(text: str) -> date:
    for fmt in ("%d.%m.%Y", "%Y-%m-%d", "%d.%m.%y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"'{text}' is not a date (dd.mm.yyyy)")
