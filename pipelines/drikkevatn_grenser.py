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


def parameter_for(label: str) -> tuple[str | None, str | None]:
    """Lab label -> (parameter id, unit found inside the label, e.g. '(FNU)')."""
    key = _norm_label(label)
    inline = re.search(r"\(([^()]*)\)\s*$", label)
    return labels().get(key), (inline.group(1).strip() if inline else None)


def convert(unit: str, parameter: str) -> float | None:
    """Factor from the lab's unit to the parameter's canonical unit, None if they do not match."""
    return units().get((norm_unit(unit), limits()[parameter].unit))
