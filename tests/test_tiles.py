"""OGC API Tiles: Mapbox vector tiles of the open collections (WebMercatorQuad and UTM32N), drawn by MapServer's
MVT output on both stores, decoded with mapbox-vector-tile; the VA network's tiles only behind authentication."""

from __future__ import annotations

import time

import httpx
import mapbox_vector_tile
import pytest
from owslib.ogcapi.features import Features
from pyproj import Transformer
from shapely.geometry import Point, shape

from map_viewer.ogc_tiles import tile_at, tile_bbox

from .conftest import Server
from .test_va import new_user

LEIRVIK = (5.50333, 59.78396)  # PP-001, a drinking-water sample point (the map test clicks it too)
MVT = "application/vnd.mapbox-vector-tile"


def _tile(tms: str, z: int, lonlat: tuple[float, float] = LEIRVIK) -> tuple[int, int]:
    crs = {"WebMercatorQuad": 3857, "UTM32N": 25832}[tms]
    return tile_at(tms, z, *Transformer.from_crs(4326, crs, always_xy=True).transform(*lonlat))


def _decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body) if body else {}


def test_tile_matrix_sets_conformance_and_links(server: Server) -> None:
    base = f"{server.url}/ogc"
    conformance = httpx.get(f"{base}/conformance?f=json").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conformance
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core" in conformance
    for path in ("/tileMatrixSets", "/TileMatrixSets"):
        ids = {s["id"] for s in httpx.get(f"{base}{path}?f=json").json()["tileMatrixSets"]}
        assert {"WebMercatorQuad", "UTM32N"} <= ids
    utm = httpx.get(f"{base}/tileMatrixSets/UTM32N?f=json").json()
    assert utm["crs"].endswith("/EPSG/0/25832")
    assert utm["tileMatrices"][0]["pointOfOrigin"] == [-2000000.0, 9045984.0]
    assert utm["tileMatrices"][3]["cellSize"] == pytest.approx(21664.0 / 8)
    links = httpx.get(f"{base}/collections/eigedomar-teig?f=json").json()["links"]
    assert any(link["rel"].endswith("tilesets-vector") for link in links)
    tilesets = httpx.get(f"{base}/collections/eigedomar-teig/tiles?f=json").json()
    assert {t["crs"].rsplit("/", 1)[1] for t in tilesets["tilesets"]} == {"3857", "25832"}
    template = next(link["href"] for link in tilesets["links"] if link["rel"] == "item")
    assert "{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}" in template and "f=mvt" in template
    meta = httpx.get(f"{base}/collections/eigedomar-teig/tiles/UTM32N/metadata?f=json")
    assert meta.status_code == 200 and meta.json()["crs"].endswith("25832")
    # the collection list of OWSLib's OGC API client still reads the landing page and collections
    assert "eigedomar-teig" in [c["id"] for c in Features(base).collections()["collections"]]


@pytest.mark.parametrize("tms", ["WebMercatorQuad", "UTM32N"])
def test_tiles_hold_the_features_with_their_attributes(server: Server, tms: str) -> None:
    base = f"{server.url}/ogc/collections"
    row, col = _tile(tms, 14 if tms == "WebMercatorQuad" else 11)
    z = 14 if tms == "WebMercatorQuad" else 11
    r = httpx.get(f"{base}/drikkevassprovar-provepunkt/tiles/{tms}/{z}/{row}/{col}?f=mvt")
    assert r.status_code == 200 and r.headers["content-type"].startswith(MVT)
    layer = _decode(r.content)["drikkevassprovar-provepunkt"]
    points = {f["properties"]["provepunkt_id"]: f for f in layer["features"]}
    assert "PP-001" in points and points["PP-001"]["geometry"]["type"] == "Point"
    props = points["PP-001"]["properties"]  # attributes come along (gml_include_items all), typed (gml_types auto)
    assert props["vassverk"] == "Leirvik vassverk" and isinstance(props["tal_analysar"], int)
    # the point sits where the tile grid says: tile pixel -> CRS coordinates -> lon/lat near PP-001
    x, y = points["PP-001"]["geometry"]["coordinates"]
    minx, miny, maxx, maxy = tile_bbox(tms, z, row, col)
    extent = layer["extent"]
    east, north = minx + x / extent * (maxx - minx), miny + y / extent * (maxy - miny)
    crs = {"WebMercatorQuad": 3857, "UTM32N": 25832}[tms]
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(east, north)
    assert Point(lon, lat).distance(Point(LEIRVIK)) < 0.001

    # areas: the property parcels of the same tile agree with the features API on count and typed attributes
    r = httpx.get(f"{base}/eigedomar-teig/tiles/{tms}/{z}/{row}/{col}?f=mvt")
    parcels = _decode(r.content)["eigedomar-teig"]["features"]
    assert parcels and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in parcels)
    sample = parcels[0]["properties"]
    assert isinstance(sample["gnr"], int) and sample["matrikkelnummer"] == f"{sample['gnr']}/{sample['bnr']}"
    # MapServer adds an EDGE_BUFFER of 16 of the tile's 256 pixels: every parcel touching the tile is in it, and
    # nothing farther out than the buffer
    ids = {f["properties"]["teig_id"] for f in parcels}
    pad = (maxx - minx) * 16 / 256
    assert _parcels_in(base, crs, (minx, miny, maxx, maxy)) <= ids <= _parcels_in(
        base, crs, (minx - pad, miny - pad, maxx + pad, maxy + pad))


def _parcels_in(base: str, crs: int, box: tuple[float, float, float, float]) -> set[str]:
    """Ids of the parcels intersecting a box in `crs`, from the features API."""
    from shapely.geometry import Polygon
    from shapely.geometry import box as rectangle

    to_lonlat = Transformer.from_crs(crs, 4326, always_xy=True)
    ring = rectangle(*box).segmentize((box[2] - box[0]) / 16).exterior.coords
    area = Polygon(zip(*to_lonlat.transform(*zip(*ring, strict=True)), strict=True))
    items = httpx.get(f"{base}/eigedomar-teig/items", params={"bbox": ",".join(map(str, area.bounds)),
                                                             "limit": 10000, "f": "json"}).json()
    return {f["properties"]["teig_id"] for f in items["features"] if shape(f["geometry"]).intersects(area)}


def test_tiles_outside_the_data_are_empty_and_bad_indexes_refused(server: Server) -> None:
    base = f"{server.url}/ogc/collections/eigedomar-teig/tiles"
    empty = httpx.get(f"{base}/WebMercatorQuad/14/0/0?f=mvt")  # the Arctic Ocean
    assert empty.status_code == 200 and not _decode(empty.content).get("eigedomar-teig", {}).get("features")
    assert httpx.get(f"{base}/WebMercatorQuad/3/8/0?f=mvt").status_code == 404  # row beyond the matrix
    assert httpx.get(f"{base}/WebMercatorQuad/25/0/0?f=mvt").status_code == 404  # deeper than the set
    assert httpx.get(f"{base}/NoSuchSet/3/0/0?f=mvt").status_code == 404
    for bad in ("x", "-1", "1e3", "0x10"):
        assert httpx.get(f"{base}/WebMercatorQuad/{bad}/0/0?f=mvt").status_code == 400, bad
    # a collection without a WMS layer (non-spatial or raster) has no tiles
    assert httpx.get(f"{server.url}/ogc/collections/reguleringsplanar-plankart/tiles?f=json").status_code == 400


def test_restricted_tiles_only_behind_authentication(server: Server) -> None:
    """The VA network's tiles: none on the public API, 401 anonymously on the restricted one, the network with a
    valid licence (and never cacheable by a shared cache)."""
    row, col = _tile("WebMercatorQuad", 14, (5.49426, 59.77627))  # inside test_va's QWMS box
    tile = f"collections/va_nett-ledning/tiles/WebMercatorQuad/14/{row}/{col}?f=mvt"
    public = httpx.get(f"{server.url}/ogc/{tile}")
    assert public.status_code == 404 and b"va_nett" not in public.content
    assert httpx.get(f"{server.url}/ogc/collections/va_nett-ledning/tiles?f=json").status_code == 404
    anonymous = httpx.get(f"{server.url}/ogc-restricted/{tile}")
    assert anonymous.status_code == 401 and b"Spillvann" not in anonymous.content
    assert httpx.get(f"{server.url}/ogc-restricted/{tile}&apikey=gd_not-a-key-at-all-000").status_code == 401
    key = new_user(server.env, f"flis{time.time_ns() % 10**8}")
    r = httpx.get(f"{server.url}/ogc-restricted/{tile}&apikey={key}")
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store" and "etag" not in r.headers
    pipes = _decode(r.content)["va_nett-ledning"]["features"]
    assert pipes and {"tema", "dimensjon"} <= set(pipes[0]["properties"])
