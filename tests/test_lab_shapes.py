"""Lab exports in their real shapes (pipelines/lims_csv.py): long and wide layout by a mapping in source.options,
labels with and without the numbered prefix and unit suffix, decimal point or comma, missing values never 0, and
raw-water sample points published but not judged against drikkevassforskrifta."""

from __future__ import annotations

from pathlib import Path

import pytest

from grunndata.registry import get_registry
from pipelines import lims_csv
from pipelines.drikkevatn_grenser import parameter_for

POINTS = ("provepunkt_id;namn;vassverk;forsyningssone;type;aust;nord\n"
          "PP-001;Utløp;Leirvik vassverk;Sentrum;utlop;303753,8;6632529,0\n"
          "PP-002;Nett;Leirvik vassverk;Sentrum;nett;303476,5;6632202,3\n"
          "RV-001;Inntak Stordavatnet;Leirvik vassverk;;råvatn;303000,0;6633000,0\n")
WIDE = ("Prøvenr;Prøvepunkt;Dato;06-E.coli;08-Kimtall 22°C;Turbiditet (FNU);pH;Sink (Zn)\n"
        "2025-001;PP-001;03.03.2025;<1;i.p.;0,35;7,4;12\n"
        "2025-002;PP-002;03.03.2025;#N/A;-;;7.6;\n"
        "2025-003;RV-001;03.03.2025;50;210;1.2;6,2;3\n")


def dataset(options: dict):
    ds = get_registry().get("drikkevassprovar")
    return ds.model_copy(update={"source": ds.source.model_copy(update={"options": options})})


@pytest.mark.parametrize(("label", "parameter", "unit"), [
    ("E. coli", "e_coli", None), ("06-E.coli", "e_coli", None), ("06-E.coli (/100 ml)", "e_coli", "/100 ml"),
    ("08-Kimtall 22°C", "kimtal_22", None), ("Kimtall 22°C", "kimtal_22", None), ("Kobber (Cu)", "kobber", None),
    ("Turbiditet (FNU)", "turbiditet", "FNU"), ("13-Farge", "farge", None), ("Sink (Zn)", None, None),
])
def test_labels_with_and_without_prefix_and_unit(label: str, parameter: str | None, unit: str | None) -> None:
    assert parameter_for(label) == (parameter, unit)


def test_wide_export_through_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text(POINTS, encoding="utf-8")
    (tmp_path / "wide.csv").write_text(WIDE, encoding="utf-8")
    ds = dataset({"lab_format": {"layout": "wide", "columns": {"dato": "Dato"}}})
    result = lims_csv.run(ds, {"provepunkt": tmp_path / "p.csv", "provar": tmp_path / "wide.csv"})
    report = result.report
    assert not report.errors, report.to_text()
    a = result.tables["analysar"].set_index(["provenr", "parameter"])
    # 2025-001: 4 known parameters; 2025-002: E.coli #N/A and Kimtall '-' and blank turbidity are not analyses
    assert set(a.index) == {("2025-001", p) for p in ("e_coli", "kimtal_22", "turbiditet", "ph")} | {
        ("2025-002", "ph")} | {("2025-003", p) for p in ("e_coli", "kimtal_22", "turbiditet", "ph")}
    assert a.loc[("2025-001", "ph"), "verdi"] == pytest.approx(7.4)  # decimal comma
    assert a.loc[("2025-002", "ph"), "verdi"] == pytest.approx(7.6)  # decimal point
    ip = a.loc[("2025-001", "kimtal_22")]
    assert ip["kvalifikator"] == "i.p." and ip["verdi"] != ip["verdi"]  # missing (NaN), never 0
    assert (a["verdi"].fillna(-1) != 0).all()
    # no unit in the file: the parameter table's unit
    assert a.loc[("2025-001", "turbiditet"), "original_eining"] == "FNU"
    assert a.loc[("2025-001", "e_coli"), "eining"] == a.loc[("2025-001", "e_coli"), "original_eining"]
    assert {f.rule for f in report.warnings} >= {"ukjend-parameter-kolonne", "ikkje-analysert"}
    assert any(f.feature == "Sink (Zn)" for f in report.warnings)


def test_raw_water_is_published_labelled_and_not_judged(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text(POINTS, encoding="utf-8")
    long = ("Prøvenr;Prøvepunkt;Prøvetakingsdato;Parameter;Resultat;Eining;Status\n"
            "2025-010;RV-001;03.03.2025;E. coli;50;cfu/100 ml;Godkjent\n"
            "2025-011;PP-002;03.03.2025;E. coli;50;cfu/100 ml;Godkjent\n")
    (tmp_path / "l.csv").write_text(long, encoding="utf-8")
    result = lims_csv.run(dataset({}), {"provepunkt": tmp_path / "p.csv", "provar": tmp_path / "l.csv"})
    assert not result.report.errors, result.report.to_text()
    a = result.tables["analysar"].set_index("provenr")
    assert a.loc["2025-010", "status"] == "ikkje_vurdert" and a.loc["2025-010", "verdi"] == 50
    assert a.loc["2025-011", "status"] == "over_grenseverdi"
    points = result.tables["provepunkt"].set_index("provepunkt_id")
    assert points.loc["RV-001", "type"] == "råvatn" and points.loc["RV-001", "status"] == "ravatn"
    assert points.loc["PP-002", "status"] == "grenseverdi_overskriden"


def test_long_export_with_other_column_names(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text(POINTS, encoding="utf-8")
    text = ("Sample;Point;Sampled;Analysis;Value\n"
            "S1;PP-001;03.03.2025;08-Kimtall 22°C (/ml);12\n"
            "S1;PP-001;03.03.2025;pH;7,1\n")
    (tmp_path / "l.csv").write_text(text, encoding="utf-8")
    fmt = {"lab_format": {"columns": {"provenr": "Sample", "provepunkt": "Point", "dato": "Sampled",
                                      "parameter": "Analysis", "resultat": "Value"}}}
    result = lims_csv.run(dataset(fmt), {"provepunkt": tmp_path / "p.csv", "provar": tmp_path / "l.csv"})
    assert not result.report.errors, result.report.to_text()
    a = result.tables["analysar"].set_index("parameter")
    assert a.loc["kimtal_22", "verdi"] == 12 and a.loc["kimtal_22", "original_eining"] == "/ml"
    assert a.loc["ph", "verdi"] == pytest.approx(7.1)
