"""Plan 5.0 code lists as data (pipelines/data/plan_*.csv), and the status groups citizens search by."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_DATA = Path(__file__).parent / "data"

# How municipal planregisters order and label plans: in force first, then in progress, then history.
STATUS_GROUPS = {
    "gjeldande": {3, 6, 7},
    "under_arbeid": {0, 1, 2},
    "historisk": {4, 5, 8, 9, 10},
}
GROUP_ORDER = {"gjeldande": 0, "under_arbeid": 1, "historisk": 2}


@dataclass(frozen=True)
class Formal:
    kode: int
    namn: str
    farge: str  # national fill colour; "" for combined purposes (drawn as outline + hatch)
    hovudgruppe: int
    verifisert: bool


@cache
def arealformal() -> dict[int, Formal]:
    with open(_DATA / "plan_arealformal.csv", encoding="utf-8") as fh:
        return {int(r["kode"]): Formal(int(r["kode"]), r["namn"], r["farge"], int(r["hovudgruppe"]),
                                       r["verifisert"] == "ja") for r in csv.DictReader(fh)}


@cache
def kodar() -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    with open(_DATA / "plan_kodar.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["liste"], {})[int(r["kode"])] = r["namn"]
    return out


@cache
def allowed_crs() -> dict[int, str]:
    with open(_DATA / "plan_crs.csv", encoding="utf-8") as fh:
        return {int(r["epsg"]): r["namn"] for r in csv.DictReader(fh)}


def status_group(planstatus: int | None) -> str:
    for group, codes in STATUS_GROUPS.items():
        if planstatus in codes:
            return group
    return "historisk"
