"""VA-nett delivered as GML (pipelines/va_gml.py): SOSI-VA and FKB-Ledning style attributes, heights kept, feature
types outside the VA model counted and reported, and a file in no supported format named as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from grunndata.errors import GrunndataError
from grunndata.registry import get_registry
from pipelines import va

HEAD = """<?xml version="1.0" encoding="utf-8"?>
<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:app="{ns}" gml:id="fc">
"""


def member(objtype: str, geom: str, attrs: dict[str, str], n: int) -> str:
    props = "".join(f"<app:{k}>{v}</app:{k}>" for k, v in attrs.items())
    return f'<gml:featureMember><app:{objtype} gml:id="f{n}">{props}<app:geometri>{geom}</app:geometri>' \
           f"</app:{objtype}></gml:featureMember>\n"


def point(x: float, y: float, z: float) -> str:
    return f'<gml:Point srsName="EPSG:25832" srsDimension="3"><gml:pos>{x} {y} {z}</gml:pos></gml:Point>'


def line(*xyz: tuple[float, float, float]) -> str:
    pos = " ".join(f"{x} {y} {z}" for x, y, z in xyz)
    return f'<gml:LineString srsName="EPSG:25832" srsDimension="3"><gml:posList>{pos}</gml:posList></gml:LineString>'


def sosi_va_style() -> str:
    body = [
        member("VAPunkt", point(303000, 6632000, 41.25), {"sid": "1", "p_tema": "KUM"}, 1),
        member("VAPunkt", point(303050, 6632000, 39.5), {"sid": "2", "p_tema": "KUM"}, 2),
        member("VALedning", line((303000, 6632000, 40.0), (303050, 6632000, 38.2)),
               {"sid": "10", "l_tema": "VL", "dimensjon": "110", "material": "PVC", "nettype": "H", "fsid": "1",
                "tsid": "2", "anleggsår": "1998"}, 3),
        member("Bygning", point(303100, 6632100, 50), {"bygningsnummer": "123"}, 4),
        member("Bygning", point(303110, 6632100, 50), {"bygningsnummer": "124"}, 5),
    ]
    return HEAD.format(ns="http://skjema.geonorge.no/SOSI/produktspesifikasjon/VA/1.0") + "".join(body) + \
        "</gml:FeatureCollection>\n"


def run(path: Path):
    return va.run(get_registry().get("va_nett"), {"eksport": path})


def test_sosi_va_style_gml(tmp_path: Path) -> None:
    path = tmp_path / "eksport.xml"  # the name says nothing: the content decides
    path.write_text(sosi_va_style(), encoding="utf-8")
    result = run(path)
    assert not result.report.errors, result.report.to_text()
    led = result.tables["ledning"].iloc[0]
    assert (led["sid"], led["tema"], led["dimensjon"], led["material"], led["anleggsar"]) == (10, "VL", 110, "PVC",
                                                                                               1998)
    assert led["fsid"] == 1 and led["tsid"] == 2
    punkt = result.tables["punkt"].set_index("sid")
    assert punkt.loc[1, "hoyde"] == pytest.approx(41.25) and punkt.loc[2, "hoyde"] == pytest.approx(39.5)
    (outside,) = [f for f in result.report.warnings if f.rule == "utanfor-va-modellen"]
    assert outside.feature == "Bygning" and outside.message.startswith("2 Bygning")
    assert result.report.counts["utanfor_va_modellen"] == 2


def test_fkb_ledning_style_gml(tmp_path: Path) -> None:
    body = member("Ledning", line((303000, 6632000, 40.0), (303050, 6632010, 38.0)),
                  {"ledningstype": "SP", "materiale": "PE", "diameter": "160"}, 1)
    body += member("Kum", point(303000, 6632000, 41.0), {"punkttype": "KUM", "sid": "7"}, 2)
    path = tmp_path / "fkb.gml"
    path.write_text(HEAD.format(ns="http://skjema.geonorge.no/SOSI/produktspesifikasjon/FKB-Ledning/4.6") + body
                    + "</gml:FeatureCollection>\n", encoding="utf-8")
    result = run(path)
    led = result.tables["ledning"].iloc[0]
    assert (led["tema"], led["material"], led["dimensjon"]) == ("SP", "PE", 160)
    assert result.tables["punkt"].iloc[0]["hoyde"] == pytest.approx(41.0)


def test_unsupported_format_says_so(tmp_path: Path) -> None:
    path = tmp_path / "va_eksport.sos"  # named like SOSI, but it is a spreadsheet export
    path.write_text("sid;tema;dimensjon\n1;VL;110\n", encoding="utf-8")
    with pytest.raises(GrunndataError, match="unsupported format"):
        run(path)


def test_gml_export_builds_and_publishes_on_both_stores(empty_env, tmp_path: Path, monkeypatch) -> None:
    from grunndata.settings import get_settings
    from grunndata.store import open_store

    from .conftest import build_in

    path = tmp_path / "levert.gml"
    path.write_text(sosi_va_style(), encoding="utf-8")
    done = build_in(empty_env, "build", "va_nett", "--source", f"eksport={path}")
    assert done.returncode == 0, done.stdout + done.stderr
    empty_env.apply(monkeypatch)
    store = open_store(get_settings())
    assert store.count("va_nett", "ledning") == 1 and store.count("va_nett", "punkt") == 2
