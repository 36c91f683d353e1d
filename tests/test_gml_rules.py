"""DiBK's GML rules (pipelines/gml_rules.py): a planted pass and fail file per rule, DiBK's own fixtures, a defect in
one plan never stopping the others, and `grunndata validate` giving the verdict by content."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from grunndata.registry import get_registry
from pipelines import plan as plan_pipeline
from pipelines.gml_rules import RULES
from pipelines.plan_model import normalise, read_plans
from pipelines.report import Report

from .conftest import SHARED

DIBK = SHARED / "realdata" / "dibk-plan-gml"
ROOT = Path(__file__).resolve().parents[1]
SRS = "http://www.opengis.net/def/crs/EPSG/0/25832"
X0, Y0 = 300000.0, 6630000.0
SQUARE = [(X0, Y0), (X0 + 100, Y0), (X0 + 100, Y0 + 100), (X0, Y0 + 100), (X0, Y0)]  # counter-clockwise


def pos(coords) -> str:
    return " ".join(" ".join(f"{v:.2f}" for v in c) for c in coords)


def linear_ring(coords, dim: int = 2) -> str:
    return f'<gml:LinearRing><gml:posList srsDimension="{dim}">{pos(coords)}</gml:posList></gml:LinearRing>'


def polygon(exterior: str, interiors: tuple[str, ...] = (), srs: str | None = SRS, gid: str = "g1",
            dim: int = 2) -> str:
    srs_attr = f' srsName="{srs}"' if srs else ""
    inner = "".join(f"<gml:interior>{i}</gml:interior>" for i in interiors)
    return (f'<gml:MultiSurface gml:id="{gid}"{srs_attr} srsDimension="{dim}"><gml:surfaceMember>'
            f'<gml:Polygon gml:id="{gid}p"><gml:exterior>{exterior}</gml:exterior>{inner}</gml:Polygon>'
            "</gml:surfaceMember></gml:MultiSurface>")


def curve_ring(*segments: str) -> str:
    return (f'<gml:Ring><gml:curveMember><gml:Curve gml:id="c{uuid.uuid4().hex[:6]}"><gml:segments>'
            f'{"".join(segments)}</gml:segments></gml:Curve></gml:curveMember></gml:Ring>')


def seg(coords) -> str:
    return f"<gml:LineStringSegment><gml:posList>{pos(coords)}</gml:posList></gml:LineStringSegment>"


def arc(coords) -> str:
    return f"<gml:Arc><gml:posList>{pos(coords)}</gml:posList></gml:Arc>"


def plan_gml(surface: str, *, envelope_srs: str | None = SRS, lokal: str | None = None, href: str = "#ro1",
             ro_id: str = "ro1", extra: str = "", area_props: str = "") -> str:
    env = f' srsName="{envelope_srs}"' if envelope_srs else ""
    lokal = lokal or str(uuid.UUID(int=2))
    return f"""<?xml version="1.0" encoding="utf-8"?>
<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:app="http://skjema.geonorge.no/SOSI/produktspesifikasjon/Reguleringsplanforslag/5.0" gml:id="fc">
  <gml:boundedBy><gml:Envelope{env}><gml:lowerCorner>{X0} {Y0}</gml:lowerCorner>
    <gml:upperCorner>{X0 + 100} {Y0 + 100}</gml:upperCorner></gml:Envelope></gml:boundedBy>
  <gml:featureMember>
    <app:Arealplan gml:id="ap1">
      <app:identifikasjon><app:Identifikasjon><app:lokalId>{uuid.UUID(int=1)}</app:lokalId>
        </app:Identifikasjon></app:identifikasjon>
      <app:nasjonalArealplanId><app:NasjonalArealplanId><app:administrativEnhet><app:AdministrativEnhetskode>
        <app:kommunenummer>4614</app:kommunenummer></app:AdministrativEnhetskode></app:administrativEnhet>
        <app:planidentifikasjon>2024001</app:planidentifikasjon></app:NasjonalArealplanId></app:nasjonalArealplanId>
      <app:plantype>35</app:plantype><app:plannavn>Test</app:plannavn><app:planstatus>3</app:planstatus>
      <app:lovreferanse>6</app:lovreferanse>
      <app:rpOmråde xlink:href="{href}"/>
    </app:Arealplan>
  </gml:featureMember>
  <gml:featureMember>
    <app:RpOmråde gml:id="{ro_id}">
      <app:identifikasjon><app:Identifikasjon><app:lokalId>{lokal}</app:lokalId></app:Identifikasjon>
        </app:identifikasjon>
      <app:område>{surface}</app:område>
      <app:vertikalnivå>2</app:vertikalnivå>
      {area_props}
    </app:RpOmråde>
  </gml:featureMember>
  {extra}
</gml:FeatureCollection>
"""


def boundary_feature(gid: str, coords, lokal: int) -> str:
    return f"""<gml:featureMember><app:RpPlanGrense gml:id="{gid}">
      <app:identifikasjon><app:Identifikasjon><app:lokalId>{uuid.UUID(int=lokal)}</app:lokalId>
        </app:Identifikasjon></app:identifikasjon>
      <app:grense><gml:Curve gml:id="{gid}c" srsName="{SRS}"><gml:segments>{seg(coords)}</gml:segments></gml:Curve>
      </app:grense></app:RpPlanGrense></gml:featureMember>"""


HOLE = [(X0 + 10, Y0 + 10), (X0 + 10, Y0 + 30), (X0 + 30, Y0 + 30), (X0 + 30, Y0 + 10), (X0 + 10, Y0 + 10)]  # cw
GOOD = polygon(linear_ring(SQUARE))
AVGR_GOOD = boundary_feature("b1", SQUARE[:3], 10) + boundary_feature("b2", SQUARE[2:], 11)
AVGR_BAD = boundary_feature("b1", SQUARE[:3], 10) + boundary_feature(
    "b2", [SQUARE[2], (X0 + 50, Y0 + 150), SQUARE[4]], 11)
AVGR_PROPS = '<app:avgrensesAvRpPlanGrense xlink:href="#b1"/><app:avgrensesAvRpPlanGrense xlink:href="#b2"/>'

CASES = {  # rule -> (passing document, failing document)
    "gml.gmlid.1": (plan_gml(GOOD), plan_gml(GOOD, ro_id="ap1", href="#ap1")),
    "gml.uuid.1": (plan_gml(GOOD), plan_gml(GOOD, lokal="ro-2024001")),
    "gml.xlink.1": (plan_gml(GOOD), plan_gml(GOOD, href="#not-there")),
    "gml.epsg.1": (plan_gml(polygon(linear_ring(SQUARE), srs=None)),
                   plan_gml(polygon(linear_ring(SQUARE), srs=None), envelope_srs=None)),
    "gml.epsg.2": (plan_gml(polygon(linear_ring([(*c, 12.0) for c in SQUARE], 3), dim=3,
                                    srs="http://www.opengis.net/def/crs/EPSG/0/5972"),
                            envelope_srs="http://www.opengis.net/def/crs/EPSG/0/5972"),
                   plan_gml(polygon(linear_ring([(*c, 12.0) for c in SQUARE], 3), dim=3), envelope_srs=SRS)),
    "gml.kurve.1": (plan_gml(polygon(curve_ring(seg(SQUARE[:3]), seg(SQUARE[2:])))),
                    plan_gml(polygon(curve_ring(seg(SQUARE[:3]), seg([(X0 + 90, Y0 + 100), *SQUARE[3:]]))))),
    "gml.kurve.2": (plan_gml(GOOD), plan_gml(polygon(linear_ring([SQUARE[0], SQUARE[1], SQUARE[1], *SQUARE[2:]])))),
    "gml.bue.1": (plan_gml(polygon(curve_ring(seg(SQUARE[:4]), arc([SQUARE[3], (X0 - 20, Y0 + 50), SQUARE[4]])))),
                  plan_gml(polygon(curve_ring(seg(SQUARE[:4]), arc([SQUARE[3], (X0 - 20, Y0 + 50),
                                                                     (X0 - 20, Y0 + 50), SQUARE[4]]))))),
    "gml.bue.2": (plan_gml(polygon(curve_ring(seg(SQUARE[:4]), arc([SQUARE[3], (X0 - 20, Y0 + 50), SQUARE[4]])))),
                  plan_gml(polygon(curve_ring(seg(SQUARE[:4]), arc([SQUARE[3], (X0 - 0.01, Y0 + 50), SQUARE[4]]))))),
    "gml.flate.1": (plan_gml(GOOD), plan_gml(polygon(linear_ring(
        [SQUARE[0], (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100), SQUARE[0]])))),
    "gml.flate.2": (plan_gml(GOOD), plan_gml(polygon(linear_ring(
        [SQUARE[0], (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100), SQUARE[0]])))),
    "gml.flate.3": (plan_gml(polygon(linear_ring(SQUARE), (linear_ring(HOLE),))),
                    plan_gml(polygon(linear_ring(SQUARE[::-1])))),
    "gml.flate.4": (plan_gml(polygon(linear_ring(SQUARE), (linear_ring(HOLE),))),
                    plan_gml(polygon(linear_ring(SQUARE), (linear_ring([(x + 80, y) for x, y in HOLE]),)))),
    "gml.flate.5": (plan_gml(polygon(linear_ring(SQUARE), (linear_ring(HOLE),
                                                           linear_ring([(x + 40, y) for x, y in HOLE])))),
                    plan_gml(polygon(linear_ring(SQUARE), (linear_ring(HOLE),
                                                           linear_ring([(x + 5, y) for x, y in HOLE]))))),
    "gml.avgr.1": (plan_gml(GOOD, extra=AVGR_GOOD, area_props=AVGR_PROPS),
                   plan_gml(GOOD, extra=AVGR_BAD, area_props=AVGR_PROPS)),
    "gml.enhet.1": (plan_gml(GOOD), plan_gml(GOOD.replace(f"{X0 + 100:.2f} {Y0:.2f}", f"{X0 + 100:.3f} {Y0:.2f}"))),
}


def check(path: Path, repair: bool = False):
    report = Report("t")
    outs = [normalise(p, report, 25832, repair) for p in read_plans(path, report)]
    return outs, report


def test_every_rule_has_a_planted_case() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_passes_and_fails_on_planted_files(tmp_path: Path, rule: str) -> None:
    good, bad = tmp_path / "good" / "plan.gml", tmp_path / "bad" / "plan.gml"
    for path, text in ((good, CASES[rule][0]), (bad, CASES[rule][1])):
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
    outs, report = check(good)
    assert outs and outs[0] is not None and not report.errors, report.to_text()
    outs, report = check(bad)
    if RULES[rule][0] == "warning":  # reported, the plan still imports
        assert outs and outs[0] is not None and not report.errors, report.to_text()
        found = [f for f in report.warnings if f.rule == rule]
    else:
        assert outs == [None], report.to_text()
        found = [f for f in report.errors if f.rule == rule]
    assert found, report.to_text()
    assert all(f.file == str(bad) and f.line for f in found)
    assert any(f.feature in ("ro1", "ap1", "g1", "g1p") for f in found) or rule.startswith("gml.epsg")


def test_invalid_surface_is_repaired_only_on_request(tmp_path: Path) -> None:
    path = tmp_path / "plan.gml"
    path.write_text(CASES["gml.flate.1"][1], encoding="utf-8")
    (out,), report = check(path, repair=False)
    assert out is None and "gml.flate.1" in {f.rule for f in report.errors}
    assert "repair only with --repair" in next(f.message for f in report.errors if f.rule == "gml.flate.1")


def test_repair_reports_area_before_and_after(tmp_path: Path) -> None:
    from shapely.geometry import Polygon

    from pipelines.plan_model import PlanInput, PlanObject, check_polygon

    bowtie = Polygon([SQUARE[0], (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100), SQUARE[0]])
    plan = PlanInput(tmp_path / "p.sos", "SOSI", {25832}, {}, [])
    report = Report("t")
    fixed = check_polygon(PlanObject("RpArealformålOmråde", {}, bowtie, 7, "x"), plan, report, repair=True)
    assert fixed is not None and fixed.is_valid and not report.errors
    (warning,) = report.warnings
    assert warning.rule == "geometri-reparert" and "m² before" in warning.message and "m² after" in warning.message
    assert f"{fixed.area:.1f} m² after" in warning.message


@pytest.mark.parametrize("name", [p.name for p in sorted(DIBK.glob("*.gml"))])
def test_dibk_fixtures(tmp_path: Path, name: str) -> None:
    rule = ".".join(name.split(".")[:3]).split("-")[0]  # gml.gmlid.1-2D-pass.gml -> gml.gmlid.1
    folder = tmp_path / "plans"
    folder.mkdir()
    shutil.copy(DIBK / name, folder / name)
    if name.startswith("gml.xlink.1-2D"):  # refers to gml.xlink.1-3D-pass.gml#…, whose RpRegulertTerreng is in
        # DiBK's epsg.2 fixture too
        shutil.copy(DIBK / "gml.epsg.2-pass.gml", folder / "gml.xlink.1-3D-pass.gml")  # its 3-D twin
    outs, report = check(folder / name)
    own = [f for f in report.errors if f.rule == rule and f.file.endswith(name)]
    if "-pass" in name:
        assert not own, report.to_text()
    else:
        assert own and outs == [None], report.to_text()
        assert all(f.line for f in own)


def test_one_broken_plan_does_not_stop_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "planar"
    folder.mkdir()
    (folder / "a-good.gml").write_text(plan_gml(GOOD), encoding="utf-8")
    broken = plan_gml(polygon(curve_ring(seg(SQUARE[:4]), arc([SQUARE[3], SQUARE[4]]))))  # an arc of 2 points
    (folder / "b-broken.gml").write_text(broken.replace("2024001", "2024002"), encoding="utf-8")
    (folder / "c-not-xml.gml").write_text("<gml:FeatureCollection", encoding="utf-8")
    ds = get_registry().get("reguleringsplanar")
    result = plan_pipeline.run(ds, {"planar": folder, "planregister": None, "dokument": None,
                                    "dispensasjonar": None, "plankart": None})
    assert [r["plan_id"] for _, r in result.tables["arealplan"].iterrows()] == ["4614_2024001"]
    broken_errors = [f for f in result.report.errors if f.file.endswith("b-broken.gml")]
    assert broken_errors and {f.rule for f in broken_errors} & {"gml.bue.1", "gml.kurve.1", "gml.flate.1"}
    assert all(f.line for f in broken_errors)
    assert any(f.rule == "xml" and f.file.endswith("c-not-xml.gml") for f in result.report.errors)


def validate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", "validate", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_validate_cli_verdicts_by_content(tmp_path: Path) -> None:
    good = tmp_path / "whatever-name.xml"  # not named like any sample source
    good.write_text(plan_gml(GOOD), encoding="utf-8")
    bad = tmp_path / "levert.gml"
    bad.write_text(CASES["gml.uuid.1"][1], encoding="utf-8")
    other = tmp_path / "budsjett.csv"
    other.write_text("konto;tekst;belop\n1;a;2\n", encoding="utf-8")
    road = SHARED / "realdata" / "jsosi-n50" / "0617_N50_AdministrativeOmrader.sos"
    r = validate(str(good))
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith("VALID:"), r.stdout + r.stderr
    r = validate(str(bad))
    assert r.returncode == 1 and "gml.uuid.1" in r.stdout and r.stdout.strip().splitlines()[-1].startswith(
        "INVALID:")
    r = validate(str(other))
    assert r.returncode == 2 and "unsupported format" in r.stdout
    r = validate(str(road))
    assert r.returncode == 0 and "no dataset kind imports this" in r.stdout
    assert "Kommunegrense: 3" in r.stdout and "EPSG:25833" in r.stdout and "extent:" in r.stdout
    r = validate(str(tmp_path / "missing.sos"))
    assert r.returncode == 2 and "UNREADABLE" in r.stdout
