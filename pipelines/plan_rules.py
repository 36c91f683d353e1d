"""The plan rule table (pipelines/data/plan_rules.yml) and the plan rules that look at the plan as a whole.

Every plan finding is reported through `add`, so its severity comes from the table, not from the call site, and a
GML finding names the feature's gml:id (SOSI: the plan id). `check_plan` runs the attribute rules on the Arealplan,
`check_inside` and `check_coverage` the area rules against the planområde.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import shapely
import yaml
from shapely.geometry.base import BaseGeometry

from .report import Report

_TABLE = Path(__file__).parent / "data" / "plan_rules.yml"
PLANID_MAX = 16  # objektkatalog NasjonalArealplanId: «maksimalt 16 tegn for planid»
AREA_TOLERANCE_M2 = 1.0  # as plan_model: smaller gaps or parts outside are rounding, not a defect ...
SLIVER_WIDTH_M = 0.05  # ... and so are slivers thinner than 5 cm


@dataclass(frozen=True)
class PlanRule:
    id: str
    severity: str
    namn: str
    kjelde: str
    dibk: bool
    gjort: str | None  # module.function that checks it; None: known, not implemented
    merknad: str = ""


@cache
def rules() -> dict[str, PlanRule]:
    with open(_TABLE, encoding="utf-8") as fh:
        rows = yaml.safe_load(fh)
    out = {}
    for r in rows:
        if r["severity"] not in ("error", "warning"):
            raise ValueError(f"{_TABLE}: rule {r['id']}: severity '{r['severity']}' is not error or warning")
        out[r["id"]] = PlanRule(r["id"], r["severity"], r["namn"], r["kjelde"], bool(r["dibk"]),
                                r["gjort"] or None, r.get("merknad", ""))
    return out


def add(report: Report, rule: str, message: str, file: Path | str, line: int | None, feature: str | None) -> None:
    """Report a finding with the severity the table gives the rule (an id not in the table is a programming error)."""
    (report.error if rules()[rule].severity == "error" else report.warning)(rule, message, file, line, feature)


def significant(geom: BaseGeometry) -> bool:
    return geom.area > AREA_TOLERANCE_M2 and not geom.buffer(-SLIVER_WIDTH_M / 2).is_empty


def check_plan(plan, report: Report) -> None:
    """Attribute rules on the plan (pipelines.plan_model.PlanInput) and its objects."""
    pid, p = plan.plan_id, plan.plan
    planid = p.get("planidentifikasjon") or ""
    if len(planid) > PLANID_MAX:
        add(report, "planid-lengd", f"{pid}: planidentifikasjon '{planid}' has {len(planid)} characters "
            f"(at most {PLANID_MAX})", plan.file, plan.line, pid)
    if not p.get("plannavn"):
        add(report, "manglar-plannamn", f"{pid}: the plan has no plannavn", plan.file, plan.line, pid)
    for obj in plan.objects:
        if obj.objtype == "RpOmråde" and not obj.attrs.get("vertikalniva"):
            add(report, "vertikalniva-manglar", f"{pid} {obj.objtype} {obj.local_id}: no vertikalnivå; read as 2 "
                "(på grunnen)", plan.file, obj.line, obj.gml_id or pid)


def check_inside(items: list[tuple[object, BaseGeometry]], boundary: BaseGeometry, rule: str, plan,
                 report: Report) -> None:
    """Hensynssoner / bestemmelsesområde (PlanObject, surface) lie inside the planområde."""
    for obj, geom in items:
        outside = geom.difference(boundary)
        if significant(outside):
            add(report, rule, f"{plan.plan_id} {obj.objtype} {obj.local_id}: {outside.area:.1f} m² lies outside "
                "the plan boundary (RpOmråde)", plan.file, obj.line, obj.gml_id or plan.plan_id)


def check_coverage(formal: list[tuple[object, BaseGeometry]], omrade: list[tuple[object, BaseGeometry]], plan,
                   report: Report) -> None:
    """On vertikalnivå 2 the arealformål together cover the whole planområde (when the level has any formål)."""
    if not formal or not omrade:
        return
    covered = shapely.union_all([g for _, g in formal])
    for obj, geom in omrade:
        gap = geom.difference(covered)
        if significant(gap):
            x, y = gap.representative_point().coords[0]
            add(report, "planomrade-ikkje-dekt", f"{plan.plan_id} RpOmråde {obj.local_id}: {gap.area:.1f} m² of "
                f"vertikalnivå 2 has no arealformål (e.g. at {x:.2f} {y:.2f})", plan.file, obj.line,
                obj.gml_id or plan.plan_id)
