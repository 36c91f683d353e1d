"""Source kind `budget`: budget and accounts rows as municipalities export them, through a column mapping.

A new export shape is configuration, not code: `source.options.mappings.<file key>` in dataset.yml says which column
holds what (or a constant), which slice of a longer local code is the KOSTRA funksjon or art (Sogndal's `tjeneste`
38500 = funksjon 385 + 2 local digits; `konto` 17290 = kontoklasse 1 + art 729 + 1 local digit), and which columns
are amounts: several amount columns (years or types side by side, e.g. `rekneskap_2011;budsjett_2012`) are
unpivoted to one row each. Amounts may have space or dot thousands separators, padding, a leading, trailing or
Unicode minus and a decimal comma. Income is published negative (KOSTRA sign); `income_sign: positive` flips an
export that writes income as positive numbers.

Checked per row, every problem with file, line and rule: unknown funksjon (`ukjend-funksjon`) or art
(`ukjend-art`), an amount that is not a number (`ugyldig-belop`), a row that repeats another in every
dimension and the amount (`dobbel-rad`; the same dimensions with another amount are separate postings, as real
exports have them), total rows that do not equal the sum of their rows (`totalsum`), an unknown type or year.
Code lists: `pipelines/data/kostra_*.csv` (see SOURCE.md there).
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grunndata.errors import GrunndataError
from grunndata.registry import Dataset

from .report import Report, Result
from .text import _check_not_cut, read_csv_rows, read_text

DATA = Path(__file__).resolve().parent / "data"
TYPES = ("opphavleg_budsjett", "revidert_budsjett", "rekneskap", "okonomiplan")
# How exports name the types (nn/nb, Framsikt's labels); a mapping's own `types` win.
TYPE_LABELS = {
    "opphavleg budsjett": "opphavleg_budsjett", "opprinneleg budsjett": "opphavleg_budsjett",
    "opprinnelig budsjett": "opphavleg_budsjett", "vedteke budsjett": "opphavleg_budsjett",
    "vedtatt budsjett": "opphavleg_budsjett", "budsjett": "opphavleg_budsjett",
    "revidert budsjett": "revidert_budsjett", "rekneskap": "rekneskap", "regnskap": "rekneskap",
    "økonomiplan": "okonomiplan", "økonomiplan år 2": "okonomiplan", "økonomiplan år 3": "okonomiplan",
    "økonomiplan år 4": "okonomiplan",
}
TARGETS = ("aar", "type", "del", "ansvar", "ansvar_namn", "omrade_lokalt", "funksjon", "lokal_tjeneste", "art",
           "lokal_konto", "prosjekt", "dimensjon", "belop", "tekst")
COLUMNS = ["post_id", "aar", "type", "del", "ansvar", "ansvar_namn", "omrade_lokalt", "tenesteomrade",
           "tenesteomrade_namn", "funksjon", "funksjon_namn", "art", "art_namn", "artsgruppe", "retning",
           "lokal_tjeneste", "lokal_konto", "prosjekt", "dimensjon", "belop", "tekst", "kjelde"]
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u00a0": "", "\u202f": "", "\u2009": "", " ": "", "'": ""})
_AMOUNT = re.compile(r"^[+-]?\d+(\.\d+)?$")


# -- the mapping (dataset.yml) ---------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Col(_Strict):
    column: str | None = Field(default=None, description="source column")
    value: str | None = Field(default=None, description="a constant instead of a column")
    slice: tuple[int, int] | None = Field(default=None, description="[start, end) of the value (0-based), e.g. "
                                          "[0, 3] = funksjon from a 5-digit tjeneste")
    values: dict[str, str] = Field(default_factory=dict, description="source value -> published value")

    @model_validator(mode="after")
    def _one(self) -> Col:
        if (self.column is None) == (self.value is None):
            raise ValueError("give either 'column' or 'value'")
        return self


class Amount(_Strict):
    column: str
    aar: int | None = None
    type: str | None = None


class Totals(_Strict):
    column: str = Field(description="the column that marks total rows")
    marker: str = Field(description="regular expression: rows whose column matches are totals, not data")
    group_by: list[str] = Field(default_factory=list, description="targets a total sums over (none: all rows)")


class Mapping(_Strict):
    sheet: str | None = Field(default=None, description="XLSX: the sheet (default: the first)")
    columns: dict[str, Col | str]
    amounts: list[Amount] = Field(default_factory=list, description="amount columns to unpivot (else 'belop')")
    types: dict[str, str] = Field(default_factory=dict, description="source type label -> one of " + ", ".join(TYPES))
    income_sign: Literal["negative", "positive"] = "negative"
    totals: Totals | None = None
    duplicates: Literal["error", "keep"] = Field(default="error", description="a row equal to another in every "
                                                 "dimension and the amount: an error, or kept (a warning)")
    extra_fields: bool = Field(default=False, description="CSV rows with more fields than the header keep the "
                               "header's fields (a warning) instead of failing (rule: felttal)")

    @model_validator(mode="after")
    def _targets(self) -> Mapping:
        unknown = set(self.columns) - set(TARGETS)
        if unknown:
            raise ValueError(f"unknown target(s) {sorted(unknown)}; known: {', '.join(TARGETS)}")
        for need in ("funksjon", "art"):
            if need not in self.columns:
                raise ValueError(f"the mapping needs '{need}'")
        if bool(self.amounts) == ("belop" in self.columns):
            raise ValueError("give either 'amounts' (columns to unpivot) or a 'belop' column")
        for a in self.amounts:
            if a.aar is None and "aar" not in self.columns:
                raise ValueError(f"amount column '{a.column}' needs 'aar' (or an 'aar' column)")
            if a.type is None and "type" not in self.columns:
                raise ValueError(f"amount column '{a.column}' needs 'type' (or a 'type' column)")
        if not self.amounts:
            for need in ("aar", "type"):
                if need not in self.columns:
                    raise ValueError(f"the mapping needs '{need}'")
        for label in {*self.types.values(), *(a.type for a in self.amounts if a.type)}:
            if label not in TYPES:
                raise ValueError(f"type '{label}' is not one of {', '.join(TYPES)}")
        return self

    def col(self, target: str) -> Col | None:
        c = self.columns.get(target)
        return Col(column=c) if isinstance(c, str) else c

    def source_columns(self) -> list[str]:
        cols = [c.column for t in self.columns if (c := self.col(t)) and c.column]
        cols += [a.column for a in self.amounts]
        if self.totals:
            cols.append(self.totals.column)
        return list(dict.fromkeys(cols))


def mapping_for(dataset: Dataset, key: str, where: str = "dataset.yml") -> Mapping:
    raw = dataset.source.options.get("mappings", {}).get(key)
    if raw is None:
        raise GrunndataError(f"{where}: key 'source.options.mappings.{key}': missing: every budget file needs a "
                             "column mapping", hint="see pipelines/budget.py and datasets/budsjett/dataset.yml")
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise GrunndataError(f"{where}: key 'source.options.mappings.{key}.{loc}': {first['msg']}",
                             hint="see the mapping keys in pipelines/budget.py") from exc


# -- code lists ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Codes:
    funksjon: dict[str, dict[str, str]]
    tenesteomrade: dict[str, str]
    art: dict[str, str]
    artsgruppe: dict[str, dict[str, str]]


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


LANG_COLUMN = {"nn": "namn", "nb": "namn_nb", "en": "namn_en"}  # the code lists carry a name per page language


@cache
def _named(kind: str) -> dict[str, dict[str, str]]:
    return {r["kode"]: r for r in _rows(f"kostra_{kind}.csv")}


def code_name(kind: str, code: str, lang: str) -> str | None:
    """A funksjon's or art's name in nn, nb or en; an art not in the list is named by its art group (first digit)."""
    row = _named(kind).get(code)
    if row is None and kind == "art":
        row = _named("artsgruppe").get(code[:1])
    return row[LANG_COLUMN.get(lang, "namn")] if row else None


@cache
def codes() -> Codes:
    return Codes(funksjon={r["kode"]: r for r in _rows("kostra_funksjon.csv")},
                 tenesteomrade={r["kode"]: r["namn"] for r in _rows("kostra_tenesteomrade.csv")},
                 art={r["kode"]: r["namn"] for r in _rows("kostra_art.csv")},
                 artsgruppe={r["kode"]: r for r in _rows("kostra_artsgruppe.csv")})


# -- values ----------------------------------------------------------------------------------------------------
def parse_amount(text: object) -> float:
    """'1 456 538' / ' -2 304 000 ' / '1.234.567,50' / '123-' / '−5' / 12.5 -> float; ValueError otherwise."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    t = str(text).strip().translate(_MINUS)
    if t.startswith("(") and t.endswith(")"):
        t = "-" + t[1:-1]
    if t.endswith("-") and t[:-1].replace(",", "").replace(".", "").isdigit():
        t = "-" + t[:-1]
    if "," in t:  # decimal comma: dots are thousands separators
        t = t.replace(".", "").replace(",", ".")
    elif t.count(".") > 1:
        t = t.replace(".", "")
    if not _AMOUNT.match(t):
        raise ValueError(f"'{text}' is not an amount")
    return float(t)


def _cell(row: dict[str, object], col: Col | None) -> str:
    if col is None:
        return ""
    raw = col.value if col.value is not None else row.get(col.column or "", "")
    text = "" if raw is None else (str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw))
    text = text.strip()
    if col.slice:
        text = text[col.slice[0]:col.slice[1]]
    return col.values.get(text, text)


def read_rows(path: Path, mapping: Mapping, report: Report) -> list[tuple[int, dict[str, object]]]:
    """(line, {column: value}) from a CSV (`;` or `,`, UTF-8 or cp1252) or an XLSX sheet (line = spreadsheet row)."""
    required = mapping.source_columns()
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path, mapping.sheet, required)
    if not mapping.extra_fields:
        rows, _ = read_csv_rows(path, required)
        return list(rows)
    return _read_csv_extra(path, required, report)


def _read_csv_extra(path: Path, required: list[str], report: Report) -> list[tuple[int, dict[str, object]]]:
    """Like text.read_csv_rows, but a row with more fields than the header keeps the header's fields (Stavanger
    2016 has 347 rows with two extra trailing fields); one warning per file says how many."""
    if not path.exists():
        raise GrunndataError(f"{path}: file not found", hint="check source.files in dataset.yml or --source")
    text, _ = read_text(path)
    first = text.split("\n", 1)[0]
    delim = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise GrunndataError(f"{path}:1: header lacks column(s) {missing}; found {header}")
    records = []
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            break
        if any(cell.strip() for cell in raw):
            records.append((reader.line_num, raw))
    if records:
        _check_not_cut(path, text, delim, records[-1][0], records[-1][1], len(header))
    out, extra = [], 0
    for line, raw in records:
        if len(raw) < len(header):
            raise GrunndataError(f"{path}:{line}: {len(raw)} fields, header has {len(header)} (rule: felttal)")
        extra += len(raw) > len(header)
        out.append((line, {h: c.strip() for h, c in zip(header, raw, strict=False)}))
    if extra:
        report.warning("ekstra-felt", f"{extra} rows have more fields than the header; the extra trailing fields "
                       "are ignored (mapping: extra_fields: true)", path.name)
    return out


def _read_xlsx(path: Path, sheet: str | None, required: list[str]) -> list[tuple[int, dict[str, object]]]:
    import openpyxl

    if not path.exists():
        raise GrunndataError(f"{path}: file not found", hint="check source.files in dataset.yml or --source")
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet and sheet not in book.sheetnames:
            raise GrunndataError(f"{path}: no sheet '{sheet}'; sheets: {book.sheetnames}")
        ws = book[sheet] if sheet else book.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(it, ())]
        missing = [c for c in required if c not in header]
        if missing:
            raise GrunndataError(f"{path}:1: header lacks column(s) {missing}; found {header}")
        out = []
        for n, values in enumerate(it, start=2):
            if all(v is None or str(v).strip() == "" for v in values):
                continue
            out.append((n, {h: ("" if v is None else v) for h, v in zip(header, values, strict=False)}))
        return out
    finally:
        book.close()


# -- the pipeline ----------------------------------------------------------------------------------------------
def read_file(path: Path, mapping: Mapping, report: Report, label: str | None = None) -> list[dict]:
    """Every data row of one export as normalised records (one per amount column); problems go to the report."""
    c = codes()
    label = label or path.name
    records: list[dict] = []
    seen: dict[tuple, int] = {}
    totals: list[tuple[int, tuple, str, float]] = []  # (line, group key, amount column, total)
    sums: dict[tuple[tuple, str], float] = defaultdict(float)
    group = mapping.totals.group_by if mapping.totals else []
    marker = re.compile(mapping.totals.marker) if mapping.totals else None
    amounts = mapping.amounts or [Amount(column="")]
    for line, row in read_rows(path, mapping, report):
        v = {t: _cell(row, mapping.col(t)) for t in TARGETS if t != "belop"}
        gkey = tuple(v[g] for g in group)
        is_total = marker is not None and bool(marker.search(str(row.get(mapping.totals.column, "") or "")))
        parsed: list[tuple[Amount, float]] = []
        for a in amounts:
            raw = row.get(a.column) if a.column else _cell(row, mapping.col("belop"))
            if raw is None or str(raw).strip() == "":
                report.warning("tomt-belop", f"no amount in '{a.column or mapping.col('belop').column}'; "
                               "row left out", label, line)
                continue
            try:
                parsed.append((a, parse_amount(raw)))
            except ValueError as exc:
                report.error("ugyldig-belop", f"{exc} (column '{a.column or mapping.col('belop').column}')",
                             label, line)
        if is_total:
            totals += [(line, gkey, a.column, amount) for a, amount in parsed]
            continue
        funksjon, art = v["funksjon"], v["art"]
        fdef = c.funksjon.get(funksjon)
        if fdef is None:
            report.error("ukjend-funksjon", f"funksjon '{funksjon}' is not in the KOSTRA list "
                         "(pipelines/data/kostra_funksjon.csv)", label, line)
        gruppe = c.artsgruppe.get(art[:1]) if re.fullmatch(r"\d{3}", art) else None
        if gruppe is None:
            report.error("ukjend-art", f"art '{art}' is not a KOSTRA art (three digits in an art group)", label, line)
        if fdef is None or gruppe is None:
            continue
        for a, amount in parsed:
            sums[(gkey, a.column)] += amount
            try:
                year = int(a.aar if a.aar is not None else v["aar"])
            except ValueError:
                report.error("ugyldig-aar", f"year '{v['aar']}' is not a year", label, line)
                continue
            label_type = a.type or v["type"]
            typ = mapping.types.get(label_type) or TYPE_LABELS.get(label_type.strip().lower()) or (
                label_type if label_type in TYPES else None)
            if typ is None:
                report.error("ukjend-type", f"type '{label_type}' is not one of {', '.join(TYPES)} (or a label "
                             "in the mapping's 'types')", label, line)
                continue
            income = gruppe["retning"] == "inntekt"
            if mapping.income_sign == "positive" and income:
                amount = -amount
            key = (year, typ, v["del"] or "drift", v["ansvar"], funksjon, v["lokal_tjeneste"], art,
                   v["lokal_konto"], v["prosjekt"], v["dimensjon"], v["tekst"], amount)
            if key in seen:
                msg = f"same year, type, ansvar, funksjon, art, local codes and amount as line {seen[key]}"
                if mapping.duplicates == "error":
                    report.error("dobbel-rad", msg, label, line)
                    continue
                report.warning("dobbel-rad", msg + "; kept as a separate posting (mapping: duplicates: keep)",
                               label, line)
            seen.setdefault(key, line)
            records.append({
                "post_id": f"{label}:{line}" + (f":{a.column}" if a.column else ""),
                "aar": year, "type": typ, "del": v["del"] or "drift", "ansvar": v["ansvar"],
                "ansvar_namn": v["ansvar_namn"], "omrade_lokalt": v["omrade_lokalt"],
                "tenesteomrade": fdef["tenesteomrade"], "tenesteomrade_namn": c.tenesteomrade[fdef["tenesteomrade"]],
                "funksjon": funksjon, "funksjon_namn": fdef["namn"], "art": art,
                "art_namn": c.art.get(art, gruppe["namn"]), "artsgruppe": art[:1], "retning": gruppe["retning"],
                "lokal_tjeneste": v["lokal_tjeneste"], "lokal_konto": v["lokal_konto"], "prosjekt": v["prosjekt"],
                "dimensjon": v["dimensjon"], "belop": amount, "tekst": v["tekst"], "kjelde": f"{label}:{line}"})
    for line, gkey, column, total in totals:
        got = sums.get((gkey, column), 0.0)
        if abs(got - total) > 0.5:
            what = ", ".join(f"{g}={k}" for g, k in zip(group, gkey, strict=True)) or "all rows"
            report.error("totalsum", f"total {total:,.0f} ({what}{', ' + column if column else ''}) but the rows sum "
                         f"to {got:,.0f}".replace(",", " "), label, line)
    return records


def frame(records: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records, columns=COLUMNS)
    df["aar"] = df["aar"].astype("int64")
    df["belop"] = df["belop"].astype("float64")
    return df.sort_values(["aar", "type", "funksjon", "art", "post_id"], ignore_index=True)


def population(dataset: Dataset) -> pd.DataFrame:
    raw = dataset.source.options.get("innbyggjarar", {})
    try:
        pairs = sorted((int(k), int(n)) for k, n in raw.items())
    except (TypeError, ValueError, AttributeError):
        raise GrunndataError("dataset.yml: key 'source.options.innbyggjarar': must map years to whole numbers "
                             "(e.g. 2024: 19050)") from None
    return pd.DataFrame({"aar": pd.Series([y for y, _ in pairs], dtype="int64"),
                         "innbyggjarar": pd.Series([n for _, n in pairs], dtype="int64")})


def run(dataset: Dataset, sources: dict[str, Path] | None = None) -> Result:
    sources = sources or {}
    report = Report(dataset.id)
    records: list[dict] = []
    for key in dataset.source.files:
        path = sources.get(key, dataset.source_path(key))
        records += read_file(path, mapping_for(dataset, key, str(dataset.folder / "dataset.yml")), report)
    postar = frame(records)
    report.counts.update({"postar": len(postar), "år": postar["aar"].nunique()})
    return Result({"postar": postar, "innbyggjarar": population(dataset)}, report)
