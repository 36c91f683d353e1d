"""The fast OGC API items path (store-made GeoJSON in the answer's CRS, capped numberMatched, orjson) answers what
the slow one did: the same features in the same order, the same geometry, numberMatched exact while it is cheap.

The expected answers are computed independently here: the whole table read with geopandas and transformed with
pyproj, as pygeoapi's own @crs_transform did (authority axis order, so EPSG:4326 is latitude first).
"""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import pytest
import shapely
from pyproj import CRS, Transformer

from grunndata.settings import Settings
from grunndata.store import Query, open_store

from .conftest import Env, Server

POINTS = ("drikkevassprovar", "provepunkt", "provepunkt_id")
AREAS = ("eigedomar", "teig", "teig_id")
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


def _expected(env: Env, monkeypatch: pytest.MonkeyPatch, table: tuple[str, str, str], target: str,
              bbox_lonlat: list[float] | None = None) -> list[tuple[str, shapely.Geometry]]:
    """(id, geometry in `target`) of the table's rows, in id order, inside `bbox_lonlat` as pygeoapi turns it
    into the storage CRS (two corners)."""
    env.apply(monkeypatch)
    dataset, name, id_field = table
    gdf = open_store(Settings(), "public").read(dataset, name).sort_values(id_field)
    if bbox_lonlat:
        to_store = Transformer.from_crs(CRS("OGC:CRS84"), CRS(gdf.crs))
        x0, y0 = to_store.transform(bbox_lonlat[0], bbox_lonlat[1])
        x1, y1 = to_store.transform(bbox_lonlat[2], bbox_lonlat[3])
        gdf = gdf[gdf.intersects(shapely.box(x0, y0, x1, y1))]
    move = Transformer.from_crs(CRS(gdf.crs), CRS(target)).transform
    moved = shapely.transform(np.asarray(gdf.geometry.values), lambda xy: np.column_stack(move(xy[:, 0], xy[:, 1])))
    return [(str(i), g) for i, g in zip(gdf[id_field], moved, strict=True)]


def _same(got: list[dict], want: list[tuple[str, shapely.Geometry]]) -> None:
    assert [str(f["id"]) for f in got] == [i for i, _ in want]
    for f, (_, geom) in zip(got, want, strict=True):
        shape = shapely.geometry.shape(f["geometry"])
        assert shape.geom_type == geom.geom_type
        assert np.allclose(shapely.get_coordinates(shape), shapely.get_coordinates(geom), atol=1e-6), f["id"]


@pytest.mark.parametrize("table", [POINTS, AREAS], ids=["points", "polygons"])
def test_items_in_each_crs_match_pygeoapis_own_transform(server: Server, monkeypatch: pytest.MonkeyPatch,
                                                         table: tuple[str, str, str]) -> None:
    items = f"{server.url}/ogc/collections/{table[0]}-{table[1]}/items"
    everything = httpx.get(items, params={"f": "json", "limit": 10000}).json()
    want = _expected(server.env, monkeypatch, table, "OGC:CRS84")
    _same(everything["features"], want)
    assert everything["numberMatched"] == len(want)
    for epsg in (4326, 25832, 25833):
        r = httpx.get(items, params={"f": "json", "limit": 10000, "crs": EPSG.format(epsg)})
        assert r.headers["content-crs"] == f"<{EPSG.format(epsg)}>"
        _same(r.json()["features"], _expected(server.env, monkeypatch, table, f"EPSG:{epsg}"))
    if table is POINTS:  # CRS84 is lon/lat, EPSG:4326 lat/lon
        lon, lat = everything["features"][0]["geometry"]["coordinates"]
        flipped = httpx.get(items, params={"f": "json", "limit": 1, "crs": EPSG.format(4326)}).json()
        assert flipped["features"][0]["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-7)


def test_bbox_paging_and_numberMatched_as_before(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    items = f"{server.url}/ogc/collections/{POINTS[0]}-{POINTS[1]}/items"
    box = [5.40, 59.70, 5.60, 59.85]
    want = _expected(server.env, monkeypatch, POINTS, "OGC:CRS84", box)
    assert 3 <= len(want) < 23
    got, url, params = [], items, {"f": "json", "limit": 2, "bbox": ",".join(map(str, box))}
    while url:  # follow the next links: every page in id order, none twice, none missing
        page = httpx.get(url, params=params).json()
        assert page["numberMatched"] == len(want)
        got += page["features"]
        url, params = next((link["href"] for link in page["links"] if link["rel"] == "next"), None), None
    _same(got, want)
    # sortby, properties and a CQL2 filter still go through the same store query
    desc = httpx.get(items, params={"f": "json", "limit": 100, "sortby": f"-{POINTS[2]}",
                                    "properties": POINTS[2]}).json()["features"]
    assert [f["id"] for f in desc] == sorted((f["id"] for f in desc), reverse=True)
    assert all(set(f["properties"]) == {POINTS[2]} for f in desc)
    one = want[0][0]
    only = httpx.get(items, params={"f": "json", "filter": f"{POINTS[2]} = '{one}'"}).json()
    assert [f["id"] for f in only["features"]] == [one] and only["numberMatched"] == 1
    hits = httpx.get(items, params={"f": "json", "resulttype": "hits", "bbox": ",".join(map(str, box))}).json()
    assert hits["numberMatched"] == len(want) and hits["features"] == []


def test_other_formats_still_get_geometry_objects(server: Server) -> None:
    items = f"{server.url}/ogc/collections/{POINTS[0]}-{POINTS[1]}/items"
    html = httpx.get(items, params={"f": "html", "limit": 5})
    assert html.status_code == 200 and "<html" in html.text.lower()
    ld = httpx.get(items, params={"f": "jsonld", "limit": 5})
    assert ld.status_code == 200 and orjson.loads(ld.content)
    csv = httpx.get(items, params={"f": "csv", "limit": 5})
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 6


def test_count_cap_leaves_numberMatched_out_and_paging_goes_on(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.apply(monkeypatch)
    store = open_store(Settings(), "public")
    dataset, table, id_field = POINTS
    exact = store.query(dataset, table, id_field, Query(limit=100))
    n = exact.matched
    assert n == len(exact.features) > 5
    capped = store.query(dataset, table, id_field, Query(limit=3, count_cap=5))
    assert capped.matched is None and [f["id"] for f in capped.features] == [f["id"] for f in exact.features[:3]]
    assert store.query(dataset, table, id_field, Query(limit=3, count_cap=n)).matched == n
    assert store.query(dataset, table, id_field, Query(count_cap=5, hits_only=True)).matched == n  # hits: exact
    # the geometry text handed to orjson is the GeoJSON the parsed path gives
    raw = store.query(dataset, table, id_field, Query(limit=100, out_srid=4326, raw_geometry=True))
    parsed = store.query(dataset, table, id_field, Query(limit=100, out_srid=4326))
    assert isinstance(raw.features[0]["geometry"], orjson.Fragment)
    assert orjson.loads(orjson.dumps(raw.features)) == orjson.loads(orjson.dumps(parsed.features))


ADDRESSES = ("eigedomar", "adresse", "adresse_id")


def test_bbox_pages_are_disjoint_and_cover_every_match_in_id_order(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bbox on points pages in id order on both stores, whichever way a page is found (GeoPackage: sorting the
    R*Tree's hits, or walking the table in fid order when the matches are dense): pages at any offset are the
    slices of one list, numberMatched is exact up to the cap or left out, and a point a hair outside the box
    (inside the R*Tree's float32 box) is not a match."""
    env.apply(monkeypatch)
    store = open_store(Settings(), "public")
    dataset, table, id_field = ADDRESSES
    gdf = store.read(dataset, table)
    x, y = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    x0, y0, x1, y1 = gdf.total_bounds
    for box in ((x0, y0, x1, y1), (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2), (x0 + 1000, y0 + 1000, x0 + 3000, y0 + 2500)):
        inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
        want = sorted(gdf.loc[inside, id_field].astype(str))
        assert len(want) > 30, box
        got: list[str] = []
        limit = max(7, len(want) // 30)  # about 30 pages, the first ones dense enough to walk, the later ones sorted
        for offset in range(0, len(want) + limit, limit):
            page = store.query(dataset, table, id_field, Query(bbox=box, limit=limit, offset=offset,
                                                               count_cap=10000, skip_geometry=True))
            assert page.matched == len(want)
            got += [str(f["id"]) for f in page.features]
        assert got == want  # disjoint, in id order, none missing
        capped = store.query(dataset, table, id_field, Query(bbox=box, limit=5, count_cap=len(want) - 1))
        assert capped.matched is None and [str(f["id"]) for f in capped.features] == want[:5]
        assert store.query(dataset, table, id_field, Query(bbox=box, hits_only=True)).matched == len(want)
    # a point on the box's edge matches; moved a millimetre outside (same float32 box in the R*Tree) it does not
    px, py = float(x[0]), float(y[0])
    edge = (px, py, px + 50, py + 50)
    hair = (px + 0.001, py, px + 50, py + 50)
    on = [str(f["id"]) for f in store.query(dataset, table, id_field, Query(bbox=edge, limit=1000)).features]
    off = [str(f["id"]) for f in store.query(dataset, table, id_field, Query(bbox=hair, limit=1000)).features]
    first = str(gdf[id_field].iloc[0])
    assert first in on and first not in off
    assert store.query(dataset, table, id_field, Query(bbox=hair, hits_only=True)).matched == len(off)


def test_point_blobs_read_without_a_wkb_parse_give_shapelys_coordinates() -> None:
    """The dense bbox walk reads x/y from the point blobs' bytes: the same numbers as Shapely gives, for 2-D and
    3-D points, with and without an envelope; null and empty points NaN; other layouts go through Shapely."""
    import struct

    from grunndata.store.gpkg import gpkg_to_wkb, point_xy

    def blob(geom: shapely.Geometry | None, envelope: int = 0, big_endian: bool = False) -> bytes | None:
        if geom is None:
            return None
        wkb = shapely.to_wkb(geom, byte_order=0 if big_endian else 1, flavor="iso")
        flags = 0x01 | (envelope << 1) | (0x10 if geom.is_empty else 0)
        head = b"GP\x00" + bytes([flags]) + struct.pack("<i", 25832)
        box = {0: b"", 1: struct.pack("<4d", *(geom.bounds if not geom.is_empty else (0, 0, 0, 0)))}[envelope]
        return head + box + wkb

    rng = np.random.default_rng(4614)
    pts = [shapely.Point(*xy) for xy in rng.uniform(290000, 310000, (50, 2))]
    pts_z = [shapely.Point(p.x, p.y, float(i)) for i, p in enumerate(pts)]
    cases = [[blob(p) for p in pts], [blob(p, 1) for p in pts], [blob(p) for p in pts_z],
             [blob(p) for p in pts] + [None], [blob(p, big_endian=True) for p in pts],
             [blob(p) for p in pts] + [blob(shapely.Point())]]
    for blobs in cases:
        x, y = point_xy(blobs)
        shapes = [shapely.from_wkb(gpkg_to_wkb(b)) if b else None for b in blobs]
        want = [(g.x, g.y) if g is not None and not g.is_empty else (np.nan, np.nan) for g in shapes]
        assert np.array_equal(np.column_stack([x, y]), np.array(want), equal_nan=True)
    assert np.isnan(point_xy([blob(p) for p in pts] + [None])[0][-1])


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)  # the extent estimate is the GeoPackage store's
def test_a_box_far_over_the_cap_is_not_counted_on_geopackage(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bbox that by the table's extent holds four times the cap or more leaves numberMatched out without
    counting (as PostGIS does by its planner's estimate); the page is the same."""
    env.apply(monkeypatch)
    store = open_store(Settings(), "public")
    assert store.kind == "gpkg"
    dataset, table, id_field = ADDRESSES
    box = tuple(store.read(dataset, table).total_bounds)
    n = store.query(dataset, table, id_field, Query(bbox=box, hits_only=True)).matched
    exact = store.query(dataset, table, id_field, Query(bbox=box, limit=10, count_cap=n))
    far = store.query(dataset, table, id_field, Query(bbox=box, limit=10, count_cap=n // 5))
    assert exact.matched == n and far.matched is None
    assert [f["id"] for f in far.features] == [f["id"] for f in exact.features]
