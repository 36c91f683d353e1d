"""The LIMS pipeline on the seeded sample and on bad input: every error names file, line and rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from grunndata.registry import get_registry
from pipelines.drikkevatn_grenser import limits
from pipelines.lims_csv import parse_result, run

DS = get_registry().get("drikkevassprovar")
HEADER = "Prøvenr;Prøvepunkt;Prøvetakingsdato;Parameter;Resultat;Eining;Status\n"


def test_sample_normalises_messy_lab_export() -> None:
    result = run(DS)
    assert not result.report.errors
    points, analyses = result.tables["provepunkt"], result.tables["analysar"]
    assert len(points) >= 20 and analyses["vassverk"].nunique() >= 3
    assert analyses["provetaken"].min() <= "2024-12-31" and analyses["provetaken"].max() >= "2026-06-01"
    # Eurofins labels and Norwegian labels end up as the same canonical parameter
    assert set(analyses["parameter"]) >= {"e_coli", "koliforme_bakteriar", "ph", "konduktivitet", "jern"}
    # µS/cm converted to mS/m, with the original kept
    conv = analyses[analyses["original_eining"] == "µS/cm"].iloc[0]
    assert conv["eining"] == "mS/m" and abs(conv["verdi"] * 10 - float(conv["original_resultat"])) < 1e-6
    # qualifiers and exceedances
    assert {"<", "i.p."} <= set(analyses["kvalifikator"].dropna()) and analyses["kvalifikator"].isna().any()
    over = analyses[analyses["status"] == "over_grenseverdi"]
    assert len(over) >= 3 and (over["parameter"] == "e_coli").any()
    assert set(points["status"]) >= {"ok", "grenseverdi_overskriden"}
    rules = {f.rule for f in result.report.warnings}
    assert {"eining-omrekna", "ikkje-analysert", "ikkje-godkjend", "teiknsett"} <= rules


@pytest.mark.parametrize("text, expected", [
    ("<1", (1.0, "<")), ("> 200", (200.0, ">")), ("i.p.", (None, "i.p.")), ("7,45", (7.45, "")),
    ("1 234,5", (1234.5, "")),
])
def test_parse_result(text: str, expected: tuple) -> None:
    assert parse_result(text) == expected


def test_limits_judge_qualifiers() -> None:
    e_coli, ph = limits()["e_coli"], limits()["ph"]
    assert e_coli.judge(1.0, "<") == "ok"  # below detection
    assert e_coli.judge(200.0, ">") == "over_grenseverdi"
    assert e_coli.judge(1.0, "") == "over_grenseverdi"
    assert ph.judge(6.2, "") == "over_tiltaksgrense" and ph.judge(7.2, "") == "ok"
    assert limits()["turbiditet"].judge(5.0, "") == "ikkje_vurdert"
    assert not ph.verified and e_coli.verified


BAD_ROWS = [
    ("2025-1;PP-001;05.01.2025;Sølvpapir;1;mg/l;Godkjent", "ukjend-parameter"),
    ("2025-1;PP-001;05.01.2025;pH;7,1;mg/l;Godkjent", "eining-passar-ikkje"),
    ("2025-1;PP-001;05.01.2025;pH;15;;Godkjent", "umogleg-verdi"),
    ("2025-1;PP-001;05.01.2025;Jern;-0,2;mg/l;Godkjent", "umogleg-verdi"),
    ("2025-1;PP-001;05.01.2025;Jern;mykje;mg/l;Godkjent", "umogleg-verdi"),
    ("2025-1;PP-999;05.01.2025;pH;7,1;;Godkjent", "ukjent-provepunkt"),
    ("2025-1;PP-001;31.02.2025;pH;7,1;;Godkjent", "ugyldig-dato"),
]


@pytest.mark.parametrize("row, rule", BAD_ROWS)
def test_bad_row_is_error_with_file_line_and_rule(tmp_path: Path, row: str, rule: str) -> None:
    lab = tmp_path / "provar.csv"
    lab.write_text(HEADER + "2025-0;PP-001;04.01.2025;pH;7,2;;Godkjent\n" + row + "\n", encoding="utf-8")
    result = run(DS, {"provar": lab})
    errors = result.report.errors
    assert len(errors) == 1, errors
    assert errors[0].rule == rule and errors[0].file == str(lab) and errors[0].line == 3
    assert len(result.tables["analysar"]) == 1  # the good row is still read and reported on


def test_duplicate_row(tmp_path: Path) -> None:
    lab = tmp_path / "provar.csv"
    row = "2025-0;PP-001;04.01.2025;pH;7,2;;Godkjent\n"
    lab.write_text(HEADER + row + "\n" + row, encoding="utf-8")
    errors = run(DS, {"provar": lab}).report.errors
    assert [(e.rule, e.line) for e in errors] == [("dobbel-rad", 4)]
    assert "linje 2" in errors[0].message


def test_all_errors_of_a_file_are_reported(tmp_path: Path) -> None:
    lab = tmp_path / "provar.csv"
    lab.write_text(HEADER + "\n".join(r for r, _ in BAD_ROWS) + "\n", encoding="utf-8")
    report = run(DS, {"provar": lab}).report
    assert [e.rule for e in report.errors] == [r for _, r in BAD_ROWS]
    assert "provar.csv:2" in report.to_text()


def test_missing_column_is_clear(tmp_path: Path) -> None:
    from grunndata.errors import GrunndataError

    lab = tmp_path / "provar.csv"
    lab.write_text("Prøvenr;Parameter\n1;pH\n", encoding="utf-8")
    with pytest.raises(GrunndataError, match=r"provar.csv:1: header lacks column"):
        run(DS, {"provar": lab})


def test_generator_is_deterministic(tmp_path: Path) -> None:
    from grunndata.samples import load_generator

    made = load_generator(DS.folder).generate(tmp_path)
    committed = DS.folder / "kjelder"
    for key, path in made.items():
        assert path.read_bytes() == (committed / path.name).read_bytes(), f"{key}: run `grunndata samples`"


def test_sample_points_are_on_land_in_stord() -> None:
    from grunndata.kommune import boundary

    points = run(DS).tables["provepunkt"]
    stord = boundary("4614", "EPSG:25832")
    assert points.within(stord).all()
    leirvik = points[points["vassverk"] == "Leirvik vassverk"]
    assert len(leirvik) > len(points) / 2
