"""SOSI Del 1 realisation grammar in pipelines/sosi.py: ..REF islands anywhere, quoted strings, comments, a file
without KOORDSYS, legacy SOSI 3.x themes. Planted files; the real files are in tests/test_sosi.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.sosi import NO_KOORDSYS_RULE, SosiError, read_sosi

ROOT = Path(__file__).resolve().parents[1]
HEAD = ".HODE\n..TEGNSETT UTF-8\n..TRANSPAR\n...KOORDSYS 22\n...ORIGO-NØ 0 0\n...ENHET 1\n"


def curve(n: int, coords: list[tuple[int, int]]) -> str:  # coords as (x=E, y=N); SOSI writes N E
    return f".KURVE {n}:\n..OBJTYPE Grense\n..NØ\n" + "\n".join(f"{y} {x}" for x, y in coords) + "\n"


# outer square 0..100 as four curves (1-4), island A (5) at 10..30, island B (6) at 60..80 written backwards
OUTER = [curve(1, [(0, 0), (100, 0)]), curve(2, [(100, 0), (100, 100)]), curve(3, [(100, 100), (0, 100)]),
         curve(4, [(0, 100), (0, 0)])]
ISLANDS = [curve(5, [(10, 10), (10, 30), (30, 30), (30, 10), (10, 10)]),
           curve(6, [(60, 60), (80, 60), (80, 80), (60, 80), (60, 60)])]


def sosi(tmp_path: Path, ref: str, head: str = HEAD, body: str | None = None) -> Path:
    text = head + "".join(OUTER + ISLANDS) + (body if body is not None else
                                             f".FLATE 7:\n..OBJTYPE Område\n{ref}\n..NØ\n50 50\n") + ".SLUTT\n"
    path = tmp_path / "f.sos"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("ref", [
    "..REF :1 :2 (:5) :3 :4 (:-6)",  # islands in the middle; references after ')' continue the outer boundary
    "..REF (:5) (:-6) :1 :2 :3 :4",  # islands first
    "..REF :1 :2 :3 :4 (:5) (:-6)",  # islands last
    "..REF :1 :2\n(:5)\n:3 :4 (:-6)",  # spread over continuation lines
    "..REF :1 :2 (:5)\n..REF :3 :4 (:-6)",  # several ..REF entries
    "..REF :1 :2 (:5) :3 :4 (\n:-6 )",  # an island opened on one line and closed on the next
])
def test_ref_islands_anywhere_in_the_list(tmp_path: Path, ref: str) -> None:
    obj = next(o for o in read_sosi(sosi(tmp_path, ref)).objects if o.kind == "FLATE")
    assert obj.refs[0] == [1, 2, 3, 4], obj.refs
    assert sorted(map(tuple, obj.refs[1:])) == [(-6,), (5,)]
    geom = obj.geometry
    assert geom.is_valid and len(geom.interiors) == 2
    assert geom.area == pytest.approx(100 * 100 - 2 * 20 * 20)


def test_unclosed_island_is_an_error_naming_the_line(tmp_path: Path) -> None:
    with pytest.raises(SosiError, match=r"f\.sos:\d+: \.\.REF opens '\('"):
        read_sosi(sosi(tmp_path, "..REF :1 :2 :3 :4 (:5"))


def test_quoted_strings(tmp_path: Path) -> None:
    body = ('.PUNKT 8:\n..OBJTYPE Stadnamn\n..NAVN "Ola ""Pølsa"" Nordmann"\n..MERKNAD \'It\'\'s here\'\n'
            '..TEKST "Bjørn! ikkje kommentar" ! men dette er ein kommentar\n'
            '..SAMAN "ab"\'"\'"cd"\n..FLEIRE "to ord" enkelt \'tre ord her\'\n'
            '..LANG "første del"\n"andre del"\n..EIGAR O\'Neil\n..NØ\n5 5\n')
    obj = next(o for o in read_sosi(sosi(tmp_path, "", body=body)).objects if o.kind == "PUNKT")
    a = obj.attrs
    assert a["NAVN"] == 'Ola "Pølsa" Nordmann'
    assert a["MERKNAD"] == "It's here"
    assert a["TEKST"] == "Bjørn! ikkje kommentar"
    assert a["SAMAN"] == 'ab"cd'
    assert a["FLEIRE"] == ["to ord", "enkelt", "tre ord her"]
    assert a["EIGAR"] == "O'Neil"  # an apostrophe inside a word opens no quote
    assert a["LANG"] == ["første del", "andre del"]  # a value continued on the next line keeps its quoted parts


def test_comments(tmp_path: Path) -> None:
    head = "! eksportert av eit system\n" + HEAD.replace("...KOORDSYS 22", "...KOORDSYS 22 ! UTM 32")
    path = sosi(tmp_path, "..REF :1 :2 :3 :4 ! ytre grense", head=head)
    result = read_sosi(path)
    assert result.epsg == 25832
    assert next(o for o in result.objects if o.kind == "FLATE").refs == [[1, 2, 3, 4]]


def test_no_koordsys_is_a_warning_objects_counted_not_placed(tmp_path: Path) -> None:
    path = sosi(tmp_path, "..REF :1 :2 :3 :4", head=HEAD.replace("...KOORDSYS 22\n", ""))
    result = read_sosi(path)
    assert result.epsg is None and dict(result.counts()) == {"KURVE": 6, "FLATE": 1}
    assert any(n.startswith(NO_KOORDSYS_RULE) for n in result.notes)
    assert all(o.geometry is None and o.problems for o in result.objects)
    run = subprocess.run([sys.executable, "-m", "orchestration.cli", "validate", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "7 objects" in run.stdout and NO_KOORDSYS_RULE in run.stdout, run.stdout


def test_legacy_sosi_3_linje_with_ltema(tmp_path: Path) -> None:
    text = (".HODE\n..TEGNSETT ISO8859-1\n..TRANSPAR\n...KOORDSYS 22\n...ORIGO-NØ 6600000 300000\n...ENHET 0.01\n"
            "..SOSI-VERSJON 3.4\n"
            ".LINJE 1:\n..LTEMA 7001\n..NØ\n100 200\n300 400\n"
            ".LINJE 2:\n..LTEMA 7001\n..NØ\n300 400\n500 900\n"
            ".PUNKT 3:\n..PTEMA 7100\n..NØ\n100 200\n"
            ".FLATE 4:\n..FTEMA 7300\n..REF :1 :2\n..NØ\n200 300\n.SLUTT\n")
    path = tmp_path / "gammal.sos"
    path.write_bytes(text.encode("latin-1"))
    result = read_sosi(path)
    assert dict(result.counts()) == {"LINJE": 2, "PUNKT": 1, "FLATE": 1}
    assert [o.theme for o in result.objects] == ["LTEMA 7001", "LTEMA 7001", "PTEMA 7100", "FTEMA 7300"]
    first = result.objects[0].geometry
    assert first.coords[0] == pytest.approx((300002.0, 6600001.0))


def test_plan_without_koordsys_is_reported_with_the_rule(tmp_path: Path) -> None:
    from pipelines.plan_model import read_plans
    from pipelines.report import Report

    path = sosi(tmp_path, "..REF :1 :2 :3 :4", head=HEAD.replace("...KOORDSYS 22\n", ""))
    report = Report("t")
    read_plans(path, report)
    assert [f.rule for f in report.warnings] == [NO_KOORDSYS_RULE]
