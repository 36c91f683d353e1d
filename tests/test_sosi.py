"""The SOSI reader on every real file in ../shared/realdata, checked against independent counts and GDAL."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from grunndata.errors import GrunndataError
from pipelines.sosi import SosiError, koordsys_table, read_sosi

from .conftest import SHARED

SOSI_FILES = sorted([*(SHARED / "realdata" / "sosi-js").glob("*.[sS][oO][sS]"),
                     *(SHARED / "realdata" / "jsosi-n50").glob("*.sos")])
KINDS = ("PUNKT", "SYMBOL", "TEKST", "KURVE", "BUEP", "FLATE")
REGPLAN = SHARED / "realdata" / "sosi-js" / "Regplan.sos"
# fastmerke.sos is a fragment as sosi.js ships it: one .PUNKT cut out of a Kartverket listing, no .SLUTT, no final
# newline. Read knowingly; by default a file without .SLUTT is rejected as truncated (tests/test_truncation.py).
FRAGMENTS = {"fastmerke.sos"}


def read_real(path: Path):
    return read_sosi(path, allow_missing_slutt=path.name in FRAGMENTS)


def raw_counts(path: Path) -> dict[str, int]:
    """Object counts straight from the bytes: lines starting with '.KIND n:' (independent of the reader)."""
    data = path.read_bytes()
    return {k: n for k in KINDS if (n := len(re.findall(rb"(?m)^\." + k.encode() + rb"\s+-?\d+:", data)))}


def test_the_real_files_are_all_there() -> None:
    assert len(SOSI_FILES) == 16


@pytest.mark.parametrize("path", SOSI_FILES, ids=lambda p: p.name)
def test_every_real_file_reads_with_the_right_object_counts(path: Path) -> None:
    sosi = read_real(path)
    assert dict(sosi.counts()) == raw_counts(path)
    assert sosi.epsg in {v[0] for v in koordsys_table().values()}
    # every object with coordinates or references got a geometry, except data defects the reader named
    for obj in sosi.objects:
        if obj.geometry is None:
            assert obj.problems, f"{path.name} {obj.kind} {obj.id} has no geometry and no reason"
        else:
            assert shapely.is_valid(obj.geometry) or obj.kind != "FLATE" or obj.problems == []


@pytest.mark.parametrize(("name", "codec", "epsg", "text"), [
    ("Regplan.sos", "latin-1", 5115, "RpArealformålOmråde"),
    ("valgkretser_ISO8859-10.SOS", "iso8859_10", 25833, None),
    ("valgkretserdos8.SOS", "cp865", 25832, None),
    ("naturvernomraade.sos", "utf-8", 25835, "Gaulosen naturreservat"),
    ("fastmerke.sos", "utf-8-sig", 25832, "BJØBERG D32 N1"),
    ("testfile2.sos", "utf-8", 25832, None),  # header says ISO8859-1, bytes are UTF-8
    ("buep.sos", "utf-8", 25833, "Kommunegrense"),  # header says ISO8859-10, bytes are UTF-8
    ("0617_N50_AdministrativeOmrader.sos", "iso8859_10", 25833, "Gol"),
])
def test_encodings_and_coordinate_systems(name: str, codec: str, epsg: int, text: str | None) -> None:
    path = next(p for p in SOSI_FILES if p.name == name)
    sosi = read_real(path)
    assert (sosi.encoding, sosi.epsg) == (codec, epsg)
    assert "OMRÅDE" in sosi.header or "TRANSPAR" in sosi.header  # Norwegian letters in keys decoded right
    if text:
        values = json.dumps([o.flat() for o in sosi.objects], ensure_ascii=False)
        assert text in values
    if name in ("testfile2.sos", "buep.sos"):
        assert any("bytes are valid UTF-8" in n for n in sosi.notes)


def test_dosn8_letters() -> None:
    sosi = read_sosi(SHARED / "realdata" / "sosi-js" / "valgkretserdos8.SOS")
    assert "MIN-NØ" in sosi.header["OMRÅDE"] and sosi.header["SOSI-NIVÅ"] == "4"


def test_regplan_saltdal_plan() -> None:
    sosi = read_sosi(REGPLAN)
    assert sosi.counts() == {"KURVE": 188, "FLATE": 78, "SYMBOL": 31}
    assert sosi.objtypes()["RpArealformålOmråde"] == 49
    area = sosi.to_frame("RpOmråde")
    assert area.iloc[0]["PLANNAVN"] == "E6 Hestbrinken-Borkamo"
    assert area.iloc[0]["NASJONALAREALPLANID.PLANID"] == "2016003"
    # KOORDSYS 215 -> NTM zone 15 puts the plan in Saltdal (Nordland), along the E6 south of Rognan
    lon, lat = Transformer.from_crs(5115, 4326, always_xy=True).transform(*area.geometry.iloc[0].centroid.coords[0])
    assert 15.2 < lon < 15.6 and 66.7 < lat < 67.0
    formal = sosi.to_frame("RpArealformålOmråde")
    assert set(formal["RPAREALFORMÅL"]) == {"2011", "2015", "2018", "2019", "2025", "2080", "3040", "5100", "6001"}
    assert formal.geometry.is_valid.all()
    # the areas tile the plan: their sum equals the plan area (reversed curves and holes assembled right)
    assert abs(formal.geometry.area.sum() - area.geometry.iloc[0].area) < 1.0


def test_regplan_surfaces_match_gdal(tmp_path: Path) -> None:
    """GDAL's SOSI driver reads this file (not most others): its polygon areas must equal ours."""
    out = tmp_path / "regplan.geojson"
    subprocess.run(["ogr2ogr", "-f", "GeoJSON", str(out), str(REGPLAN), "polygons"], check=True,
                   capture_output=True)
    gdal = json.loads(out.read_text())["features"]
    ours = sorted(round(o.geometry.area, 1) for o in read_sosi(REGPLAN).objects if o.kind == "FLATE")
    # GDAL assumes EPSG:4326 for KOORDSYS 215 but keeps the numbers: areas compare in the file's units
    theirs = sorted(round(shape(f["geometry"]).area, 1) for f in gdal)
    assert len(ours) == len(theirs) == 78
    assert all(abs(a - b) < 0.5 for a, b in zip(ours, theirs, strict=True))


def test_hole_given_as_another_surface() -> None:
    sosi = read_sosi(SHARED / "realdata" / "sosi-js" / "flate_oy.sos")
    by_id = sosi.by_id()
    assert by_id[500].geometry.area == pytest.approx(100)
    assert by_id[400].geometry.area == pytest.approx(1000 * 1000 - 100)  # (:500) names FLATE 500
    assert by_id[600].geometry.area == pytest.approx(1000 * 1000 - 100)  # the same hole by its curves
    assert len(by_id[400].geometry.interiors) == 1


def test_arc_is_densified_through_its_three_points() -> None:
    sosi = read_sosi(SHARED / "realdata" / "sosi-js" / "buep.sos")
    buep = next(o for o in sosi.objects if o.kind == "BUEP")
    p1, p2, p3 = buep.coords
    line = buep.geometry
    assert line.coords[0] == p1[:2] and line.coords[-1] == p3[:2]
    # the middle point lies on the densified arc, and every vertex is on one circle
    assert line.distance(shapely.Point(p2)) < 0.01
    xs = [c for c in line.coords]
    (ax, ay), (bx, by), (cx, cy) = p1[:2], p2[:2], p3[:2]
    d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    ux = ((ax**2 + ay**2) * (by - cy) + (bx**2 + by**2) * (cy - ay) + (cx**2 + cy**2) * (ay - by)) / d
    uy = ((ax**2 + ay**2) * (cx - bx) + (bx**2 + by**2) * (ax - cx) + (cx**2 + cy**2) * (bx - ax)) / d
    radii = [math.hypot(x - ux, y - uy) for x, y in xs]
    assert max(radii) - min(radii) < 0.01


def test_heights_origin_and_units() -> None:
    flate = read_sosi(SHARED / "realdata" / "sosi-js" / "flatetest.sos")
    tank = flate.by_id()[633]
    assert tank.geometry.has_z and tank.coords[0] == pytest.approx((341817.16, 7661352.49, 368.15))
    example = read_sosi(SHARED / "realdata" / "sosi-js" / "testfile1.sos")  # ORIGO-NØ 100000 10000, ENHET 0.01
    point = example.by_id()[1].geometry
    assert (point.x, point.y) == pytest.approx((10000 + 23.45, 100000 + 234.56))
    fast = read_real(SHARED / "realdata" / "sosi-js" / "fastmerke.sos")  # ENHET 0.001
    assert fast.objects[0].geometry.x == pytest.approx(457055.342)


def test_nested_attributes_and_def_section() -> None:
    ssr = read_sosi(SHARED / "realdata" / "jsosi-n50" / "SSR-Sydalsfjellet.sos")
    flat = ssr.objects[0].flat()
    assert flat["IDENT.LOKALID"] == "Sted.927027"
    assert flat["STEDSNAVN.SKRIVEMÅTE.LANGNAVN"] == "Svarttinden | Sydalsfjellet"
    adm = read_sosi(SHARED / "realdata" / "jsosi-n50" / "0617_N50_AdministrativeOmrader.sos")
    assert adm.definitions == {"KOMMUNENUMMER": "T4"}


def test_degenerate_surface_is_named_not_guessed() -> None:
    sosi = read_sosi(SHARED / "realdata" / "jsosi-n50" / "1417_N50_RestriksjonsOmrader.sos")
    bad = sosi.by_id()[20]
    assert bad.geometry is None and "fewer than 3 distinct points" in bad.problems[0]


BAD = {
    "unknown-koordsys": (".HODE\n..TRANSPAR\n...KOORDSYS 999\n...ENHET 1\n.PUNKT 1:\n..NØ\n1 2\n.SLUTT\n",
                         r"f\.sos:3: KOORDSYS 999 is not in"),
    "bad-number": (".HODE\n..TRANSPAR\n...KOORDSYS 22\n...ENHET 1\n.KURVE 1:\n..NØ\n1 2\n3 x\n.SLUTT\n",
                   r"f\.sos:6: coordinate 'x' is not a number"),
    "odd-count": (".HODE\n..TRANSPAR\n...KOORDSYS 22\n...ENHET 1\n.KURVE 1:\n..NØ\n1 2 3\n.SLUTT\n",
                  r"f\.sos:6: \.\.NØ has 3 numbers"),
    "missing-ref": (".HODE\n..TRANSPAR\n...KOORDSYS 22\n...ENHET 1\n.FLATE 1:\n..REF :7\n..NØ\n1 2\n.SLUTT\n",
                    r"f\.sos:5: \.FLATE 1 refers to :7, which is not in the file"),
    "no-hode": ("..OBJTYPE X\n", r"f\.sos:1: '\.\.OBJTYPE X' before the first group"),
    "no-number": (".HODE\n..TRANSPAR\n...KOORDSYS 22\n.KURVE abc\n.SLUTT\n", r"f\.sos:4: \.KURVE needs a serial"),
    "bad-ref": (".HODE\n..TRANSPAR\n...KOORDSYS 22\n.FLATE 1:\n..REF :1 x\n.SLUTT\n",
                r"f\.sos:5: \.\.REF holds"),
    "latin1-without-header": (".HODE\n..TRANSPAR\n...KOORDSYS 22\n..EIER \"Sk\xe5l\"\n.SLUTT\n",
                              r"f\.sos:4: byte 0xe5 is not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_input_names_file_and_line(tmp_path: Path, case: str) -> None:
    text, pattern = BAD[case]
    path = tmp_path / "f.sos"
    path.write_bytes(text.encode("latin-1" if case == "latin1-without-header" else "utf-8"))
    with pytest.raises(SosiError) as err:
        read_sosi(path)
    assert re.search(pattern, str(err.value)), str(err.value)
    assert isinstance(err.value, GrunndataError)
    if case == "unknown-koordsys":
        assert "sosi_koordsys.csv" in err.value.hint
