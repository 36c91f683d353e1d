"""The plan rule table (pipelines/data/plan_rules.yml): a planted pass and fail Plan 5.0 GML file per implemented plan
rule, each finding reported with the table's severity, the file, the line and the feature's gml:id; DiBK's fixtures
give no plan-rule error."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pipelines.gml_rules import RULES as GML_RULES
from pipelines.plan_model import normalise, read_plans
from pipelines.plan_rules import rules
from pipelines.report import Report

from .conftest import SHARED

DIBK = SHARED / "realdata" / "dibk-plan-gml"
SRS = "http://www.opengis.net/def/crs/EPSG/0/25832"
X0, Y0 = 300000.0, 6630000.0


def box(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    """Counter-clockwise, as gml.flate.3 asks of an exterior."""
    return [(X0 + x0, Y0 + y0), (X0 + x1, Y0 + y0), (X0 + x1, Y0 + y1), (X0 + x0, Y0 + y1), (X0 + x0, Y0 + y0)]


def surface(gid: str, ring, srs: str = SRS) -> str:
    pos = " ".join(f"{x:.2f} {y:.2f}" for x, y in ring)
    return (f'<gml:MultiSurface gml:id="{gid}g" srsName="{srs}" srsDimension="2"><gml:surfaceMember>'
            f'<gml:Polygon gml:id="{gid}p"><gml:exterior><gml:LinearRing><gml:posList>{pos}</gml:posList>'
            "</gml:LinearRing></gml:exterior></gml:Polygon></gml:surfaceMember></gml:MultiSurface>")


_n = iter(range(100, 10_000))


def feature(objtype: str, gid: str, ring, props: str, srs: str = SRS) -> str:
    return (f'<gml:featureMember><app:{objtype} gml:id="{gid}"><app:identifikasjon><app:Identifikasjon>'
            f"<app:lokalId>{uuid.UUID(int=next(_n))}</app:lokalId></app:Identifikasjon></app:identifikasjon>"
            f"<app:område>{surface(gid, ring, srs)}</app:område>{props}</app:{objtype}></gml:featureMember>")


PLAN = {"kommunenummer": "4614", "planidentifikasjon": "2024001", "plannavn": "Test", "plantype": "35",
        "planstatus": "3", "lovreferanse": "6", "ikrafttredelsesdato": "2024-05-02"}


def plan_gml(*, plan: dict | None = None, omrade: str | None = "2", formal: tuple = ((1110, box(0, 0, 100, 60)),
             (3040, box(0, 60, 100, 100))), hensyn: tuple = (("RpStøySone", "støy", 210, box(10, 10, 50, 50)),),
             bestemmelse: tuple = (box(60, 10, 90, 40),), arealplan: bool = True, srs: str = SRS) -> str:
    """A whole small plan: RpOmråde 100 x 100 m, arealformål covering it, a noise zone and a bestemmelsesområde."""
    p = {**PLAN, **(plan or {})}
    nasjonal = (f"<app:nasjonalArealplanId><app:NasjonalArealplanId><app:administrativEnhet>"
                f"<app:AdministrativEnhetskode><app:kommunenummer>{p.pop('kommunenummer')}</app:kommunenummer>"
                "</app:AdministrativEnhetskode></app:administrativEnhet>"
                f"<app:planidentifikasjon>{p.pop('planidentifikasjon')}</app:planidentifikasjon>"
                "</app:NasjonalArealplanId></app:nasjonalArealplanId>")
    attrs = "".join(f"<app:{k}>{v}</app:{k}>" for k, v in p.items() if v is not None)
    members = []
    link = '<app:rpOmråde xlink:href="#ro1"/>' if omrade is not None else ""
    if arealplan:
        members.append(f'<gml:featureMember><app:Arealplan gml:id="ap1"><app:identifikasjon><app:Identifikasjon>'
                       f"<app:lokalId>{uuid.UUID(int=1)}</app:lokalId></app:Identifikasjon></app:identifikasjon>"
                       f'{nasjonal}{attrs}{link}</app:Arealplan></gml:featureMember>')
    if omrade is not None:
        level = f"<app:vertikalnivå>{omrade}</app:vertikalnivå>" if omrade else ""
        members.append(feature("RpOmråde", "ro1", box(0, 0, 100, 100), level, srs))
    for i, (code, ring) in enumerate(formal, 1):
        members.append(feature("RpArealformålOmråde", f"af{i}", ring, f"<app:arealformål>{code}</app:arealformål>"
                               "<app:vertikalnivå>2</app:vertikalnivå>", srs))
    for i, (objtype, prop, code, ring) in enumerate(hensyn, 1):
        members.append(feature(objtype, f"hs{i}", ring, f"<app:{prop}>{code}</app:{prop}><app:hensynSonenavn>"
                               f"H{code}_{i}</app:hensynSonenavn>", srs))
    for i, ring in enumerate(bestemmelse, 1):
        members.append(feature("RpBestemmelseOmråde", f"bo{i}", ring, "", srs))
    return f"""<?xml version="1.0" encoding="utf-8"?>
<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:app="http://skjema.geonorge.no/SOSI/produktspesifikasjon/Reguleringsplanforslag/5.0" gml:id="fc">
  <gml:boundedBy><gml:Envelope srsName="{srs}"><gml:lowerCorner>{X0} {Y0}</gml:lowerCorner>
    <gml:upperCorner>{X0 + 100} {Y0 + 100}</gml:upperCorner></gml:Envelope></gml:boundedBy>
{chr(10).join(members)}
</gml:FeatureCollection>
"""


# rule -> (keyword arguments of the failing plan, the gml:id the finding names)
FAILS: dict[str, tuple[dict, str]] = {
    "manglar-arealplan": ({"arealplan": False}, None),
    "manglar-planid": ({"plan": {"planidentifikasjon": ""}}, "4614_?"),
    "planid-lengd": ({"plan": {"planidentifikasjon": "2024-0001-ABCDEFGH"}}, "4614_2024-0001-ABCDEFGH"),
    "kommunenummer-ugyldig": ({"plan": {"kommunenummer": "461"}}, "461_2024001"),
    "manglar-plannamn": ({"plan": {"plannavn": None}}, "4614_2024001"),
    "koordinatsystem": ({"srs": "http://www.opengis.net/def/crs/EPSG/0/23032"}, "4614_2024001"),
    "manglar-kode": ({"plan": {"plantype": None}}, "4614_2024001"),
    "ukjend-kode": ({"formal": ((1234, box(0, 0, 100, 100)),)}, "af1"),
    "ugyldig-dato": ({"plan": {"ikrafttredelsesdato": "2024-13-45"}}, "4614_2024001"),
    "manglar-planomrade": ({"omrade": None, "hensyn": (), "bestemmelse": ()}, "4614_2024001"),
    "vertikalniva-manglar": ({"omrade": ""}, "ro1"),
    "formal-utanfor-plan": ({"formal": ((1110, box(0, 0, 100, 60)), (3040, box(0, 60, 100, 120)))}, "af2"),
    "overlapp-arealformal": ({"formal": ((1110, box(0, 0, 100, 70)), (3040, box(0, 60, 100, 100)))}, "af1"),
    "planomrade-ikkje-dekt": ({"formal": ((1110, box(0, 0, 100, 60)), (3040, box(0, 60, 70, 100)))}, "ro1"),
    "hensynssone-utanfor-plan": ({"hensyn": (("RpStøySone", "støy", 210, box(80, 80, 130, 130)),)}, "hs1"),
    "bestemmelse-utanfor-plan": ({"bestemmelse": (box(-20, 10, 40, 40),)}, "bo1"),
}


def check(tmp_path: Path, text: str, name: str = "plan.gml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    report = Report("t")
    outs = [normalise(p, report, 25832) for p in read_plans(path, report)]
    return path, outs, report


def test_table_is_well_formed_and_holds_every_gml_rule() -> None:
    table = rules()
    assert all(r.severity in ("error", "warning") and r.namn and r.kjelde for r in table.values())
    assert {i for i, r in table.items() if i.startswith("gml.")} == set(GML_RULES)
    assert all(r.dibk for i, r in table.items() if i.startswith("gml."))
    assert GML_RULES["gml.enhet.1"][0] == "warning" and table["rpf.xsd.1"].gjort is None
    assert not table["planomrade-ikkje-dekt"].dibk  # no DiBK id is guessed


def test_every_implemented_plan_rule_has_a_planted_case() -> None:
    implemented = {i for i, r in rules().items() if r.gjort and not i.startswith("gml.")}
    assert implemented == set(FAILS)


def test_the_planted_plan_passes_every_rule(tmp_path: Path) -> None:
    _, outs, report = check(tmp_path, plan_gml())
    assert outs and outs[0] is not None, report.to_text()
    assert not report.findings, report.to_text()
    rows = outs[0].rows
    assert len(rows["arealformal"]) == 2 and len(rows["hensynssone"]) == 1 and len(rows["bestemmelsesomrade"]) == 1


@pytest.mark.parametrize("rule", sorted(FAILS))
def test_rule_fails_on_its_planted_file(tmp_path: Path, rule: str) -> None:
    kwargs, feature_id = FAILS[rule]
    path, outs, report = check(tmp_path, plan_gml(**kwargs))
    found = [f for f in report.findings if f.rule == rule]
    assert found, report.to_text()
    severity = rules()[rule].severity
    assert all(f.severity == severity for f in found)
    assert all(f.file == str(path) for f in found)
    if rule != "manglar-arealplan":  # a missing feature has no line of its own
        assert all(f.line for f in found), report.to_text()
        assert feature_id in {f.feature for f in found}, report.to_text()
    if severity == "error":
        assert outs == [None], report.to_text()
    else:
        assert outs and outs[0] is not None and not report.errors, report.to_text()


def test_a_gap_inside_the_plan_names_where_it_is(tmp_path: Path) -> None:
    _, _, report = check(tmp_path, plan_gml(**FAILS["planomrade-ikkje-dekt"][0]))
    (gap,) = [f for f in report.errors if f.rule == "planomrade-ikkje-dekt"]
    assert "1200.0 m²" in gap.message and "vertikalnivå 2" in gap.message


def test_coverage_is_not_judged_under_a_surface_already_in_error(tmp_path: Path) -> None:
    bowtie = [(X0, Y0 + 60), (X0 + 100, Y0 + 100), (X0 + 100, Y0 + 60), (X0, Y0 + 100), (X0, Y0 + 60)]
    _, outs, report = check(tmp_path, plan_gml(formal=((1110, box(0, 0, 100, 60)), (3040, bowtie))))
    assert outs == [None] and "planomrade-ikkje-dekt" not in {f.rule for f in report.errors}, report.to_text()


def test_formal_on_another_level_need_not_cover_the_plan(tmp_path: Path) -> None:
    text = plan_gml(formal=((1110, box(0, 0, 100, 100)),))
    tunnel = feature("RpArealformålOmråde", "af9", box(20, 20, 40, 80), "<app:arealformål>2011</app:arealformål>"
                     "<app:vertikalnivå>1</app:vertikalnivå>")
    _, outs, report = check(tmp_path, text.replace("</gml:FeatureCollection>", tunnel + "</gml:FeatureCollection>"))
    assert outs[0] is not None and not report.findings, report.to_text()


@pytest.mark.parametrize("path", sorted(DIBK.glob("*.gml")), ids=lambda p: p.name)
def test_dibk_fixtures_give_no_plan_rule_error(tmp_path: Path, path: Path) -> None:
    # DiBK's fixtures are GML-rule cases on small plans; none breaks a plan rule other than the CRS one the
    # epsg.1-fail file is about (EPSG:23095 is not a plan CRS either)
    report = Report("t")
    for p in read_plans(path, report):
        normalise(p, report, 25832)
    plan_errors = {f.rule for f in report.errors if not f.rule.startswith("gml.")}
    assert plan_errors <= ({"koordinatsystem"} if path.name == "gml.epsg.1-fail.gml" else set()), report.to_text()
    assert all(f.rule in rules() or f.rule == "objekttype-ikkje-publisert" for f in report.findings)
