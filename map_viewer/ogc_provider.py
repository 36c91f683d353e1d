"""pygeoapi providers reading grunndata's store.

Why our own: pygeoapi's SQLiteGPKG provider needs SpatiaLite (which aborts beside the pyproj
wheel, see grunndata/store/gpkg.py) and ignores datetime and sortby, and its stock GeoPackage and
PostgreSQL providers need a different config per store. These read through `grunndata.store`, so
one committed pygeoapi-config.yml serves GeoPackage and PostGIS alike (GRUNNDATA_DATABASE_URL).
"""

from __future__ import annotations

from functools import cache

from pygeoapi.provider.base import BaseProvider, ProviderItemNotFoundError, ProviderQueryError
from pygeoapi.util import crs_transform

from grunndata.errors import GrunndataError
from grunndata.registry import Registry, get_registry
from grunndata.settings import get_settings
from grunndata.store import Query, Store, open_store


@cache
def _store() -> Store:
    return open_store(get_settings())


@cache
def _registry() -> Registry:
    return get_registry(get_settings())


def parse_datetime(value: str | None, date_only: bool) -> tuple[str | None, str | None] | None:
    """OGC datetime (instant, a/b, ../b, a/..) -> (start, end); date fields compare on the date part."""
    if not value:
        return None
    parts = value.split("/") if "/" in value else [value, value]
    start, end = (None if p in ("..", "") else p for p in parts)
    if date_only:
        start, end = (p[:10] if p else None for p in (start, end))
    return start, end


class StoreProvider(BaseProvider):
    """`data: <dataset>/<table>` of the grunndata store, as OGC API Features."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.dataset_id, self.table = self.data.split("/", 1)
        self.get_fields()

    def get_fields(self) -> dict:
        if not self._fields:
            declared = _registry().get(self.dataset_id).table(self.table).fields
            types = _store().fields(self.dataset_id, self.table)
            for name, json_type in types.items():
                field = {"type": json_type}
                if name in declared and declared[name].type in ("date", "datetime"):
                    field = {"type": "string", "format": declared[name].type.replace("datetime", "date-time")}
                self._fields[name] = field
        return self._fields

    @crs_transform
    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              **kwargs) -> dict:
        date_only = bool(self.time_field) and self._fields.get(self.time_field, {}).get("format") == "date"
        query = Query(
            bbox=tuple(bbox) if bbox else None, properties=list(properties or []), time_field=self.time_field,
            time_range=parse_datetime(datetime_, date_only), text=q, limit=limit, offset=offset,
            sortby=[(s["property"], s["order"] != "-") for s in sortby or []],
            select=list(select_properties or []) or None,
            skip_geometry=skip_geometry, hits_only=resulttype == "hits")
        try:
            page = _store().query(self.dataset_id, self.table, self.id_field, query)
        except GrunndataError as exc:
            raise ProviderQueryError(exc.message) from exc
        return {"type": "FeatureCollection", "features": page.features,
                "numberMatched": page.matched, "numberReturned": len(page.features)}

    @crs_transform
    def get(self, identifier: str, **kwargs) -> dict:
        found = _store().get(self.dataset_id, self.table, self.id_field, identifier)
        if found is None:
            raise ProviderItemNotFoundError(f"no item {identifier}")
        return found


class CatalogueProvider(BaseProvider):
    """The dataset catalogue (OGC API Records). Tens of records: filtered in memory."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self._fields = {k: {"type": "string"} for k in ("type", "title", "description", "access", "license")}

    def get_fields(self) -> dict:
        return self._fields

    def _all(self) -> list[dict]:
        from publishers.catalogue import records

        return records(_registry(), _store(), get_settings().base_url)

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              **kwargs) -> dict:
        found = []
        for rec in self._all():
            p = rec["properties"]
            if q and not all(
                    term.lower() in " ".join([p["title"], p["description"], *p["keywords"]]).lower()
                    for term in q.split()):
                continue
            if bbox:
                ring = rec["geometry"]["coordinates"][0]
                if ring[0][0] > bbox[2] or ring[2][0] < bbox[0] or ring[0][1] > bbox[3] or ring[2][1] < bbox[1]:
                    continue
            if any(str(p.get(k)) != str(v) for k, v in properties or []):
                continue
            found.append(rec)
        page = found[offset:offset + limit] if resulttype != "hits" else []
        return {"type": "FeatureCollection", "features": page, "numberMatched": len(found),
                "numberReturned": len(page)}

    def get(self, identifier: str, **kwargs) -> dict:
        for rec in self._all():
            if rec["id"] == identifier:
                return rec
        raise ProviderItemNotFoundError(f"no record {identifier}")


@cache
def _wms(audience: str):
    from .wms import Wms

    settings = get_settings()
    return Wms(_store(), settings, _registry(), audience)


class WmsMapProvider(BaseProvider):
    """OGC API Maps for a collection, rendered by the same MapServer layer as /wms (one styling source)."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.layer = provider_def["data"]
        self.audience = provider_def.get("options", {}).get("audience", "public")

    def query(self, style=None, bbox=None, width=500, height=300, crs="CRS84", datetime_=None, format_="png",
              transparent=True, **kwargs) -> bytes:
        from urllib.parse import urlencode

        if not bbox or len(bbox) != 4:
            raise ProviderQueryError("bbox must be minlon,minlat,maxlon,maxlat")
        # pygeoapi hands over the bbox in lon/lat (CRS84 axis order): ask MapServer in CRS:84.
        params = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": self.layer, "STYLES": "",
                  "CRS": "CRS:84", "BBOX": ",".join(str(float(v)) for v in bbox), "WIDTH": int(width),
                  "HEIGHT": int(height), "FORMAT": "image/png",
                  "TRANSPARENT": "FALSE" if str(transparent).lower() == "false" else "TRUE"}
        result = _wms(self.audience).dispatch(urlencode(params))
        if not result.content_type.startswith("image/"):
            raise ProviderQueryError(result.body[:300].decode("utf-8", "replace"))
        return result.body
