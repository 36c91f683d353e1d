"""VA-nett keeps its heights end to end (issue 11 item 5): a source with Z (SOSI ..NØH, GML srsDimension 3, a
GeoPackage LineStringZ) gives 3-D geometry columns on both stores and three coordinates per position in the
restricted OGC API, in the store's CRS and reprojected; a 2-D source stays 2-D; a table mixing both goes 2-D with a
warning (pipelines/va.py `_one_dimension`), and a store refuses a mixed table outright.

The heights come from a real file: `flatetest.sos` (a real FKB-BygnAnlegg 4.0 extract, KOORDSYS 25, ENHET 0.01,
..NØH) with its four 3-D curves made VA pipes and a kum on its surface's centre point. Only attribute lines are
added; every coordinate line is the file's own, so the expected heights are read from the file's text here."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import psycopg2
import pytest
from PIL import Image
from pyproj import Transformer
from shapely.geometry import LineString, Point

from grunndata.errors import GrunndataError
from grunndata.registry import get_registry
from pipelines import va

from .conftest import SHARED, Env, build_in, start_server, wait_for
from .test_va import new_user

REAL = SHARED / "realdata" / "sosi-js" / "flatetest.sos"
TANK_CURVES = (633, 134, 138, 135)  # the real file's .KURVE serials (OBJTYPE Tankkant), in file order


def real_heights() -> dict[int, list[tuple[float, float, float]]]:
    """Each curve's (E, N, H) in metres, straight from the file's ..NØH lines (N E H integers, ENHET 0.01, ORIGO 0)."""
    text = REAL.read_text(encoding="utf-8")
    assert "...ENHET 0.01" in text and "...ORIGO-NØ 0  0" in text and "...KOORDSYS 25" in text
    out = {}
    for serial, body in re.findall(r"^\.KURVE (\d+):\n(.*?)(?=^\.[A-Z])", text, re.S | re.M):
        rows = re.findall(r"^(\d+) (\d+) (\d+)", body, re.M)
        out[int(serial)] = [(int(e) / 100, int(n) / 100, int(h) / 100) for n, e, h in rows]
    return out


def va_export_from_real(path: Path, two_d: bool = False) -> Path:
    """flatetest.sos as a VA export: each Tankkant curve a water main, a kum at the Tank surface's ..NØH point.
    `two_d` writes the same positions with ..NØ and no heights (a 2-D export)."""
    text = REAL.read_text(encoding="utf-8")
    serials = iter(range(101, 200))
    text = re.sub(r"^\.\.OBJTYPE Tankkant\n", lambda _: "..OBJTYPE Vannledning\n..EGS_LEDNING\n"
                  f"...SID {next(serials)}\n...L_TEMA VL\n...NETTYPE H\n...DIMENSJON 160\n...MATERIAL PE\n"
                  "...ANLEGGSÅR 2003\n...EIER K\n", text, flags=re.M)
    centre = re.search(r"^\.FLATE 651:.*?^\.\.NØH\n(\d+ \d+ \d+)\n", text, re.S | re.M).group(1)
    text = text.replace(".SLUTT", f".PUNKT 900:\n..OBJTYPE Kum\n..KVALITET 22 18\n..EGS_PUNKT\n...SID 1\n"
                                  f"...P_TEMA KUM\n...FUNKSJON VK\n..NØH\n{centre}\n.SLUTT")
    if two_d:
        text = re.sub(r"^(\d+ \d+) \d+", r"\1", text.replace("..NØH\n", "..NØ\n"), flags=re.M)
    path.write_text(text, encoding="utf-8")
    return path


def to_store_crs() -> Transformer:
    return Transformer.from_crs(25835, 25832, always_xy=True)  # KOORDSYS 25 -> the dataset's EPSG:25832


@pytest.fixture
def built_3d(empty_env: Env, tmp_path: Path) -> Env:
    src = va_export_from_real(tmp_path / "va_fra_fkb.sos")
    done = build_in(empty_env, "build", "va_nett", "--source", f"eksport={src}")
    assert done.returncode == 0, done.stdout + done.stderr
    return empty_env


def column_dims(env: Env) -> dict[str, tuple[str, int]]:
    """(geometry type, has Z) of each VA table as the store declares it: gpkg_geometry_columns (z 1 = mandatory),
    PostGIS geometry_columns (a geometry(LineStringZ, 25832) column is LINESTRING with coord_dimension 3)."""
    if env.kind == "gpkg":
        with sqlite3.connect(env.data_dir / "va_nett.gpkg") as conn:
            return {t: (g, z) for t, g, z in conn.execute(
                "SELECT table_name, geometry_type_name, z FROM gpkg_geometry_columns")}
    with psycopg2.connect(env.database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT f_table_name, type, coord_dimension FROM geometry_columns WHERE f_table_schema = "
                    "'va_nett'")
        return {t: (g.upper(), int(d == 3)) for t, g, d in cur.fetchall()}


def test_real_3d_file_keeps_heights_through_store_ogc_api_and_wms(built_3d: Env) -> None:
    assert column_dims(built_3d) == {"ledning": ("LINESTRING", 1), "punkt": ("POINT", 1)}
    key = new_user(built_3d, "hogder", passord="Hogder-2026")
    proc, base = start_server(built_3d)
    try:
        wait_for(f"{base}/ogc-restricted/", proc, 60, status=401)  # /healthz is 503: only va_nett is built
        ogc = f"{base}/ogc-restricted/collections"
        h = {"X-API-Key": key}
        assert httpx.get(f"{ogc}/va_nett-ledning/items?f=json").status_code == 401  # restricted: no key, no data
        heights = real_heights()
        to_25832 = to_store_crs()
        expected = {101 + i: heights[s] for i, s in enumerate(TANK_CURVES)}
        for crs, to in (("http://www.opengis.net/def/crs/EPSG/0/25832", None),  # the store's CRS
                        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", Transformer.from_crs(25832, 4326,
                                                                                              always_xy=True)),
                        ("http://www.opengis.net/def/crs/EPSG/0/4326", Transformer.from_crs(25832, 4326)),  # lat, lon
                        ("http://www.opengis.net/def/crs/EPSG/0/25833", Transformer.from_crs(25832, 25833,
                                                                                             always_xy=True))):
            r = httpx.get(f"{ogc}/va_nett-ledning/items", params={"f": "json", "crs": crs, "limit": 10}, headers=h)
            assert r.status_code == 200, r.text
            got = {f["properties"]["sid"]: f["geometry"]["coordinates"] for f in r.json()["features"]}
            assert set(got) == set(expected), crs
            for sid, coords in got.items():
                assert all(len(c) == 3 for c in coords), (crs, coords)
                assert [c[2] for c in coords] == pytest.approx([h_ for *_, h_ in expected[sid]]), crs  # the file's H
                stored = [to_25832.transform(e, n) for e, n, _ in expected[sid]]
                want = [v for xy in stored for v in (to.transform(*xy) if to else xy)]
                assert [v for c in coords for v in c[:2]] == pytest.approx(want, abs=1e-8), crs  # PostGIS: 9 decimals
            one = httpx.get(f"{ogc}/va_nett-ledning/items/L{TANK_CURVES[0]}", params={"f": "json", "crs": crs},
                            headers=h)
            assert one.status_code == 200, one.text
            assert [c[2] for c in one.json()["geometry"]["coordinates"]] == pytest.approx(
                [h_ for *_, h_ in heights[TANK_CURVES[0]]]), crs
        kum = httpx.get(f"{ogc}/va_nett-punkt/items", params={"f": "json"}, headers=h).json()["features"]
        assert kum[0]["geometry"]["coordinates"][2] == pytest.approx(368.08) == kum[0]["properties"]["hoyde"]
        # MapServer still draws the 3-D pipes (OGR on the GeoPackage, the PostGIS driver): the water-main blue
        e, n = to_25832.transform(*np.mean([p[:2] for p in heights[633]], axis=0))
        img = httpx.get(f"{base}/wms-restricted", headers=h, params={
            "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "va_nett-ledning", "STYLES": "",
            "CRS": "EPSG:25832", "BBOX": f"{e - 15},{n - 15},{e + 15},{n + 15}", "WIDTH": 200, "HEIGHT": 200,
            "FORMAT": "image/png", "TRANSPARENT": "TRUE"})
        assert img.status_code == 200 and img.headers["content-type"] == "image/png", img.text[:300]
        arr = np.asarray(Image.open(io.BytesIO(img.content)).convert("RGBA")).astype(int)
        assert ((arr[..., 2] > arr[..., 0] + 60) & (arr[..., 3] > 200)).sum() > 50
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_2d_source_stays_2d(empty_env: Env, tmp_path: Path) -> None:
    src = va_export_from_real(tmp_path / "va_2d.sos", two_d=True)
    result = va.run(get_registry().get("va_nett"), {"eksport": src})
    assert not result.report.errors and not any(f.rule == "blanda-hogder" for f in result.report.warnings)
    assert not result.tables["ledning"].geometry.has_z.any() and result.tables["punkt"]["hoyde"].isna().all()
    assert result.report.counts["ledning_hogder"] == "none (2-D)"
    done = build_in(empty_env, "build", "va_nett", "--source", f"eksport={src}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {t: z for t, (_, z) in column_dims(empty_env).items()} == {"ledning": 0, "punkt": 0}


def test_validate_reports_the_height_range(tmp_path: Path) -> None:
    from orchestration.validate import validate_file

    verdict = validate_file(va_export_from_real(tmp_path / "va.sos"), get_registry())
    assert verdict.verdict == "VALID", verdict.line
    assert verdict.report.counts["ledning_hogder"] == "368.08 .. 368.15 m"
    assert "punkt_hogder: 368.08 .. 368.08 m" in verdict.report.to_text()


def test_mixed_heights_go_2d_with_a_warning_and_points_keep_hoyde(tmp_path: Path) -> None:
    """A GeoPackage export whose pipes are partly 3-D: published 2-D, the count named; a kum keeps its height."""
    path = tmp_path / "blanda.gpkg"
    gpd.GeoDataFrame({"SID": [1, 2, 3], "L_TEMA": ["VL", "SP", "OV"], "DIMENSJON": [110, 160, 200]}, geometry=[
        LineString([(303000, 6632000, 40.0), (303050, 6632000, 38.2)]),
        LineString([(303000, 6632010, 41.0), (303050, 6632010, 39.0)]),
        LineString([(303000, 6632020), (303050, 6632020)])], crs=25832).to_file(path, layer="ledning")
    gpd.GeoDataFrame({"SID": [7, 8], "P_TEMA": ["KUM", "KUM"]}, geometry=[Point(303000, 6632000, 41.25),
                                                                          Point(303050, 6632000)],
                     crs=25832).to_file(path, layer="punkt")
    result = va.run(get_registry().get("va_nett"), {"eksport": path})
    mixed = {f.feature: f.message for f in result.report.warnings if f.rule == "blanda-hogder"}
    assert mixed["ledning"].startswith("ledning: 1 of 3 objects have no height (2-D, e.g. SID 3)")
    assert "heights of the other 2 are dropped" in mixed["ledning"] and "punkt" in mixed
    assert not result.tables["ledning"].geometry.has_z.any() and not result.tables["punkt"].geometry.has_z.any()
    hoyde = result.tables["punkt"].set_index("sid")["hoyde"]
    assert hoyde.loc[7] == pytest.approx(41.25) and hoyde.isna().loc[8]
    # and the stores refuse a mixed table outright rather than write one (GDAL would, PostGIS would not)
    from grunndata.geometry import check_one_dimension

    with pytest.raises(GrunndataError, match="1 of 2 geometries have heights"):
        check_one_dimension(np.array([Point(0, 0, 1), Point(1, 1)], dtype=object), "va_nett.punkt")


def test_gml_and_geopackage_heights_are_kept(tmp_path: Path) -> None:
    from .test_va_gml import sosi_va_style

    gml = tmp_path / "levert.gml"
    gml.write_text(sosi_va_style(), encoding="utf-8")
    by_gml = va.run(get_registry().get("va_nett"), {"eksport": gml})
    pipe = by_gml.tables["ledning"].geometry.iloc[0]
    assert pipe.has_z and [c[2] for c in pipe.coords] == [40.0, 38.2]
    assert by_gml.tables["punkt"].geometry.iloc[0].z == pytest.approx(41.25)
    gpkg = tmp_path / "levert.gpkg"
    for name in ("ledning", "punkt"):
        gpd.GeoDataFrame(by_gml.tables[name].drop(columns=[c for c in by_gml.tables[name].columns if c not in (
            "sid", "geometry")]).rename(columns={"sid": "SID"}).assign(**(
                {"L_TEMA": "VL", "DIMENSJON": 110} if name == "ledning" else {"P_TEMA": "KUM"}))).to_file(
            gpkg, layer=name)
    by_gpkg = va.run(get_registry().get("va_nett"), {"eksport": gpkg})
    assert [c[2] for c in by_gpkg.tables["ledning"].geometry.iloc[0].coords] == [40.0, 38.2]
    assert sorted(by_gpkg.tables["punkt"].geometry.z) == [39.5, 41.25]
