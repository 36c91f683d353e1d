"""Drikkevannsforskriften as data: limits, parameter labels and units from pipelines/data/."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Limit:
    parameter: str
    names: dict[str, str]
    unit: str
    kind: str  # grenseverdi | tiltaksgrense
    comparison: str  # maks | intervall | kvalitativ
    min: float | None
    max: float | None
    group: str
    note: str
    source: str
    verified: bool

    def judge(self, value: float | None, qualifier: str) -> str:
        """ok | over_grenseverdi | over_tiltaksgrense | ikkje_vurdert."""
        if self.comparison == "kvalitativ":
            return "ikkje_vurdert"
        if qualifier in ("i.p.", "<") or value is None:
            # Not detected, or below the quantification limit: nothing shows an exceedance.
            return "ok"
        over = (self.max is not None and (value > self.max or (qualifier == ">" and value >= self.max))) or (
            self.min is not None and value < self.min)
        return f"over_{self.kind}" if over else "ok"


def _f(text: str) -> float | None:
    return float(text) if text.strip() else None


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


@cache
def limits() -> dict[str, Limit]:
    return {
        r["parameter"]: Limit(
            r["parameter"], {"nn": r["namn_nn"], "nb": r["namn_nb"], "en": r["namn_en"]}, r["eining"],
            r["grense_type"], r["samanlikning"], _f(r["min"]), _f(r["maks"]), r["gruppe"], r["merknad"],
            r["kjelde"], r["verifisert"] == "ja")
        for r in _rows("drikkevassforskrifta.csv")
    }


@cache
def labels() -> dict[str, str]:
    return {_norm_label(r["etikett"]): r["parameter"] for r in _rows("drikkevatn_parameternamn.csv")}


@cache
def units() -> dict[tuple[str, str], float]:
    """(normalised lab unit, canonical unit) -> factor."""
    return {(norm_unit(r["eining"]), r["kanonisk"]): float(r["faktor"]) for r in _rows("einingar.csv")}


def _norm_label(label: str) -> str:
    return re.sub(r"\s+", " ", label.strip().lower())


def norm_unit(unit: str) -> str:
    u = unit.strip().lower().replace("\u03bc", "µ").replace("ug/", "µg/").replace("us/", "µs/")
    u = re.sub(r"\s+", " ", u)
    return re.sub(r"/\s*100\s*ml", "/100 ml", u)


_PREFIX = re.compile(r"^\s*\d+\s*[-.)]\s*")  # Eurofins-style numbered labels: "06-E.coli", "08-Kimtall 22°C"
_SUFFIX = re.compile(r"\s*\(([^()]*)\)\s*$")  # "(/100 ml)", "(mg/l Pt)", or a chemical symbol "(Zn)"


@cache
def _unit_words() -> set[str]:
    return {u for u, _ in units()} | {norm_unit(lim.unit) for lim in limits().values()}


def parameter_for(label: str) -> tuple[str | None, str | None]:
    """Lab label -> (parameter id, unit found inside the label, e.g. '(FNU)'). The label is looked up as given,
    then without the lab's numbered prefix and without a unit or element suffix in parentheses, so
    '06-E.coli', '08-Kimtall 22°C (/ml)' and 'Sink (Zn)' find their parameter."""
    inline = _SUFFIX.search(label)
    suffix = inline.group(1).strip() if inline else None
    unit = suffix if suffix is not None and (norm_unit(suffix) in _unit_words() or "/" in suffix) else None
    bare = _PREFIX.sub("", label)
    candidates = [label, bare, _SUFFIX.sub("", label), _SUFFIX.sub("", bare)]
    found = next((labels()[k] for k in map(_norm_label, candidates) if k in labels()), None)
    return found, unit


def convert(unit: str, parameter: str) -> float | None:
    """Factor from the lab's unit to the parameter's canonical unit, None if they do not match."""
    return units().get((norm_unit(unit), limits()[parameter].unit))
