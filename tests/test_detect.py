"""pipelines/detect.py: the source kind from the content, never from the file's name."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pipelines.detect import detect

from .conftest import SHARED

REAL = SHARED / "realdata"
PLAN_NS = "http://skjema.geonorge.no/SOSI/produktspesifikasjon/Reguleringsplanforslag/5.0"


def gml(ns: str, objtype: str) -> str:
    return (f'<?xml version="1.0"?>\n<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml/3.2" '
            f'xmlns:app="{ns}"><gml:featureMember><app:{objtype} gml:id="a"/></gml:featureMember>'
            "</gml:FeatureCollection>\n")


CASES = {
    "sosi-with-bom-and-comment": ("\ufeff! eksport\n.HODE\n..TRANSPAR\n...KOORDSYS 22\n.SLUTT\n", "sosi", None),
    "sosi-plan": (".HODE\n.FLATE 1:\n..OBJTYPE RpOmråde\n.SLUTT\n", "sosi", "plan"),
    "sosi-va": (".HODE\n.KURVE 1:\n..EGS_LEDNING\n...SID 1\n.SLUTT\n", "sosi", "va"),
    "gml-plan": (gml(PLAN_NS, "Arealplan"), "gml", "plan"),
    "gml-fkb-ledning": (gml("http://skjema.geonorge.no/SOSI/produktspesifikasjon/FKB-Ledning/4.6", "Kum"), "gml",
                        "va"),
    "gml-fkb-veg": (gml("http://skjema.geonorge.no/SOSI/produktspesifikasjon/FKB-Veg/4.6", "Vegkant"), "gml", None),
    "lab-csv": ("Prøvenr;Prøvepunkt;Prøvetakingsdato;Parameter;Resultat;Eining;Status\n", "csv", "lims_csv"),
    "wide-lab-csv": ("Prøvenr;Prøvepunkt;Prøvetakingsdato;06-E.coli;pH\n", "csv", "lims_csv"),
    "point-register": ("provepunkt_id;namn;vassverk;forsyningssone;type;aust;nord\n", "csv", "lims_csv"),
    "budget-csv": ("konto;tekst;belop\n1;a;2\n", "unsupported", None),
    "geojson": ('{"type": "FeatureCollection", "features": []}', "geojson", "vector_file"),
    "turtle": ("@prefix dcat: <http://www.w3.org/ns/dcat#> .\n", "unsupported", None),
    "empty": ("", "unreadable", None),
    "cut-xml": ('<?xml version="1.0"?>\n<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml/3.2">'
                '<gml:featureMember>', "unreadable", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_detect_by_content(tmp_path: Path, case: str) -> None:
    text, fmt, kind = CASES[case]
    path = tmp_path / "kjelde.dat"  # the same meaningless name for all
    path.write_text(text, encoding="utf-8")
    found = detect(path)
    assert (found.format, found.kind) == (fmt, kind), found


def test_geopackage_and_plain_sqlite(tmp_path: Path) -> None:
    gpkg, plain = tmp_path / "a.bin", tmp_path / "b.bin"
    for path, table in ((gpkg, "gpkg_contents"), (plain, "noe")):
        con = sqlite3.connect(path)
        con.execute(f"CREATE TABLE {table} (x)")
        con.commit()
        con.close()
    assert (detect(gpkg).format, detect(gpkg).kind) == ("gpkg", "va")
    assert detect(plain).format == "unsupported"


def test_real_files() -> None:
    assert detect(REAL / "arkade5-noark5" / "N5-archive" / "arkivstruktur.xml").format == "noark5"
    assert (detect(REAL / "sosi-js" / "Regplan.sos").kind) == "plan"
    assert detect(REAL / "jsosi-n50" / "0617_N50_AdministrativeOmrader.sos").format == "sosi"
    assert detect(REAL / "dibk-plan-gml" / "gml.uuid.1-pass.gml").kind == "plan"
    assert detect(REAL / "budget-datahotell" / "sogndal-driftsbudsjett-2013.csv").format == "unsupported"


def test_validate_finds_a_csv_by_a_dataset_mapping_and_a_noark_folder(tmp_path: Path) -> None:
    from grunndata.registry import get_registry
    from orchestration.validate import validate_path

    registry = get_registry()
    budget = next(d for d in registry.datasets.values() if d.source.kind == "budget")
    first = next(iter(budget.source.options["mappings"].values()))  # the dataset's own mapping names the columns
    header = [v if isinstance(v, str) else v.get("column") for v in first["columns"].values()]
    path = tmp_path / "eksport.csv"
    path.write_text(";".join(h for h in header if h) + "\n", encoding="utf-8")
    (verdict,) = validate_path(path, registry)
    assert "kind budget" in verdict.line, verdict.line
    verdicts = validate_path(REAL / "arkade5-noark5" / "N5-archive", registry)  # one extract, not its PDFs
    assert len(verdicts) == 1 and "kind noark5" in verdicts[0].line
