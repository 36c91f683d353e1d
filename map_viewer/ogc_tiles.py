"""OGC API Tiles: Mapbox vector tiles of a collection, drawn by MapServer's MVT output from the WMS layer.

Why MapServer and not PostGIS `ST_AsMVT` plus a Python encoder for GeoPackage: MapServer already binds every WMS
layer to whichever store runs (GeoPackage through OGR, PostGIS natively), with the layer's filters and the
attributes it publishes (`gml_include_items`), in renderer processes that keep the event loop free
(map_viewer/wms.py). Its MVT driver (MapServer 8, `OUTPUTFORMAT DRIVER MVT`, publishers/mapfile.py) clips,
simplifies to the tile grid and encodes; one code path serves both stores and both audiences (the restricted
pygeoapi under /ogc-restricted, behind authentication, uses the restricted mapfile).

pygeoapi's own Tiles API does the rest (conformance classes, /collections/{id}/tiles, tile set metadata, the
tile route); this module adds the provider and the EPSG:25832 tile matrix set pygeoapi 0.21 does not know
(`UTM32N`, the grid of Kartverket's UTM 32 caches, so tiles align with Norwegian base maps), and the
`/tileMatrixSets` spelling OGC API Tiles uses (pygeoapi routes `/TileMatrixSets`).
"""

from __future__ import annotations

from enum import Enum
from urllib.parse import urlencode

from pygeoapi.models.provider.base import TileMatrixSetEnum, TileMatrixSetEnumType
from pygeoapi.provider.base import ProviderInvalidQueryError
from pygeoapi.provider.tile import BaseTileProvider, ProviderTilesetIdNotFoundError
from starlette.applications import Starlette

MVT = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 20  # beyond this a tile is a few metres wide: use the features
_WM = 20037508.3427892  # half the WebMercatorQuad world, metres
UTM32N_ORIGIN = (-2_000_000.0, 9_045_984.0)  # Kartverket's utm32n grid: top-left corner
UTM32N_SPAN = 5_545_984.0  # the one tile of level 0, metres (21664 m per pixel of 256)


def _utm32n() -> TileMatrixSetEnumType:
    matrices = []
    for z in range(MAX_ZOOM + 1):
        cell = UTM32N_SPAN / 256 / 2**z
        matrices.append({"id": str(z), "scaleDenominator": cell / 0.00028, "cellSize": cell,
                         "cornerOfOrigin": "topLeft", "pointOfOrigin": list(UTM32N_ORIGIN),
                         "matrixWidth": 2**z, "matrixHeight": 2**z, "tileWidth": 256, "tileHeight": 256})
    return TileMatrixSetEnumType(
        tileMatrixSet="UTM32N", tileMatrixSetURI="urn:x-grunndata:tilematrixset:UTM32N",
        crs="http://www.opengis.net/def/crs/EPSG/0/25832", title="EUREF89 / UTM zone 32N (Kartverket utm32n grid)",
        orderedAxes=["E", "N"], wellKnownScaleSet="urn:x-grunndata:wkss:utm32n", tileMatrices=matrices)


UTM32N = _utm32n()
WEB_MERCATOR = TileMatrixSetEnum.WEBMERCATORQUAD.value
# id -> (the set, the WMS CRS, its top-left corner, the level-0 tile's width in CRS units)
GRIDS = {"WebMercatorQuad": (WEB_MERCATOR, "EPSG:3857", (-_WM, _WM), 2 * _WM),
         "UTM32N": (UTM32N, "EPSG:25832", UTM32N_ORIGIN, UTM32N_SPAN)}


def tile_bbox(tms: str, z: int, row: int, col: int) -> tuple[float, float, float, float]:
    """The tile's (minx, miny, maxx, maxy) in its set's CRS (east, north)."""
    _, _, (left, top), span = GRIDS[tms]
    size = span / 2**z
    return left + col * size, top - (row + 1) * size, left + (col + 1) * size, top - row * size


class TileOutsideTheSet(ProviderTilesetIdNotFoundError):
    """404 with pygeoapi's JSON exception body (its ProviderTileNotFoundError answers a bare text line)."""
    default_msg = "no such tile in this tile matrix set (tileMatrix, tileRow or tileCol out of range)"


def tile_at(tms: str, z: int, east: float, north: float) -> tuple[int, int]:
    """(row, col) of the tile of level `z` holding a point in the set's CRS."""
    _, _, (left, top), span = GRIDS[tms]
    size = span / 2**z
    return int((top - north) // size), int((east - left) // size)


def _index(value, name: str) -> int:
    try:
        out = int(str(value))
    except ValueError:
        raise ProviderInvalidQueryError(user_msg=f"{name} must be a whole number") from None
    if str(out) != str(value).lstrip("+") or out < 0:
        raise ProviderInvalidQueryError(user_msg=f"{name} must be a whole number >= 0")
    return out


class MapServerMVTProvider(BaseTileProvider):
    """Tiles of one WMS layer (`data`: the layer name = the collection id) in WebMercatorQuad and UTM32N."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.tile_type = "vector"
        self.options = {"zoom": {"min": 0, "max": MAX_ZOOM}, "schemes": list(GRIDS), **(self.options or {})}
        self.audience = self.options.get("audience", "public")
        self._service_url = ""

    def get_layer(self) -> str:
        return self.data

    def get_tiling_schemes(self) -> list[TileMatrixSetEnumType]:
        return [GRIDS[s][0] for s in self.options["schemes"] if s in GRIDS]

    def get_tiles_service(self, baseurl=None, servicepath=None, dirpath=None, tile_type=None) -> dict:
        self._service_url = servicepath
        return {"links": [{"type": MVT, "rel": "item", "title": "This collection as Mapbox vector tiles",
                           "href": servicepath, "templated": True}]}

    def get_metadata(self, dataset, server_url, layer=None, tileset=None, metadata_format=None, title=None,
                     description=None, keywords=None, **kwargs) -> dict:
        if tileset not in GRIDS:
            raise ProviderTilesetIdNotFoundError()
        tms = GRIDS[tileset][0]
        base = f"{server_url}/collections/{dataset}/tiles/{tileset}"
        return {"title": title, "description": description, "dataType": "vector", "crs": tms.crs,
                "tileMatrixSetURI": tms.tileMatrixSetURI,
                "links": [{"rel": "self", "type": "application/json", "href": f"{base}?f=json"},
                          {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": "application/json",
                           "href": f"{server_url}/tileMatrixSets/{tileset}?f=json"},
                          {"rel": "item", "type": MVT, "templated": True,
                           "href": f"{base}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}?f=mvt"}],
                "layers": [{"id": layer, "dataType": "vector"}],
                "tileMatrixSetLimits": [{"tileMatrix": str(z), "minTileRow": 0, "maxTileRow": 2**z - 1,
                                         "minTileCol": 0, "maxTileCol": 2**z - 1}
                                        for z in range(self.options["zoom"]["min"], self.options["zoom"]["max"] + 1)]}

    def get_tiles(self, layer=None, tileset=None, z=None, y=None, x=None, format_=None) -> bytes:
        from .ogc_provider import _wms

        if tileset not in GRIDS:
            raise ProviderTilesetIdNotFoundError()
        z, row, col = _index(z, "tileMatrix"), _index(y, "tileRow"), _index(x, "tileCol")
        if z > self.options["zoom"]["max"] or row >= 2**z or col >= 2**z:
            raise TileOutsideTheSet()
        params = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": self.data, "STYLES": "",
                  "CRS": GRIDS[tileset][1], "BBOX": ",".join(repr(v) for v in tile_bbox(tileset, z, row, col)),
                  "WIDTH": 256, "HEIGHT": 256, "FORMAT": MVT}
        result = _wms(self.audience).dispatch(urlencode(params))
        if result.status != 200 or not result.content_type.startswith(MVT):
            from .ogc_provider import _exception_text

            raise ProviderInvalidQueryError(user_msg=_exception_text(result.body))
        return result.body  # an empty body is a valid tile with no features


def _errors_as_json(endpoint):
    async def tile(request):
        response = await endpoint(request)
        if response.status_code != 200 and response.headers.get("content-type", "").startswith(MVT):
            response.headers["content-type"] = "application/json"
        return response

    tile.grunndata_patched = True
    return tile


def install(app: Starlette) -> Starlette:
    """Teach pygeoapi's Tiles API the UTM32N set and answer `/tileMatrixSets` as well as `/TileMatrixSets`."""
    from pygeoapi.api import tiles
    from starlette.routing import Mount, Route

    if "UTM32N" not in tiles.TileMatrixSetEnum.__members__:
        members = {m.name: m.value for m in TileMatrixSetEnum} | {"UTM32N": UTM32N}
        tiles.TileMatrixSetEnum = Enum("TileMatrixSetEnum", members)  # read by tilematrixset(s) at call time
    for route in app.router.routes:
        if not isinstance(route, Mount):
            continue
        for i, r in enumerate(route.routes):  # errors of the tile route are JSON, not labelled as a tile
            if isinstance(r, Route) and r.path.endswith("/tiles/{tileMatrixSetId}/{tile_matrix}/{tileRow}/{tileCol}") \
                    and not getattr(r.endpoint, "grunndata_patched", False):
                route.routes[i] = Route(r.path, _errors_as_json(r.endpoint))
        extra = [Route(r.path.replace("/TileMatrixSets", "/tileMatrixSets"), r.endpoint)
                 for r in route.routes if isinstance(r, Route) and r.path.startswith("/TileMatrixSets")]
        if extra and not any(isinstance(r, Route) and r.path.startswith("/tileMatrixSets") for r in route.routes):
            route.routes[:0] = extra
    return app


def vector_style(table) -> dict:
    """How maps.js draws a layer's vector tiles: the WMS layer's classes and colours (publishers/mapfile.py), as
    {kind: fill|line|circle, field, classes: [[value, colour], …], outline, size}."""
    from publishers.mapfile import layer_classes

    kind = {"Point": "circle", "LineString": "line"}.get(table.geometry.replace("Multi", ""), "fill")
    fallback = table.wms.outline or "#666666"  # classes without a colour (combined purposes) are hatched in WMS
    return {"kind": kind, "field": table.wms.classify_by, "outline": table.wms.outline, "size": table.wms.size,
            "classes": [[str(value), colour or fallback] for value, colour, _ in layer_classes(table)]}
