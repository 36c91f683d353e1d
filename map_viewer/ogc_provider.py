"""pygeoapi providers reading grunndata's store.

Why our own: pygeoapi's SQLiteGPKG provider needs SpatiaLite (which aborts beside the pyproj
wheel, see grunndata/store/gpkg.py) and ignores datetime and sortby, and its stock GeoPackage and
PostgreSQL providers need a different config per store. These read through `grunndata.store`, so
one committed pygeoapi-config.yml serves GeoPackage and PostGIS alike (GRUNNDATA_DATABASE_URL).
"""

from __future__ import annotations

from functools import cache
from http import HTTPStatus

from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from pygeoapi.util import crs_transform

from grunndata.errors import GrunndataError, InvalidQuery, StoreUnavailable
from grunndata.registry import Registry, get_registry
from grunndata.settings import get_settings
from grunndata.store import Query, Store, open_store

from .ogc_fastpath import raw_geometry_wanted, target


class StoreUnavailableError(ProviderConnectionError):
    """The store is down (PostgreSQL restarting): 503, so clients and proxies retry instead of giving up."""

    ogc_exception_code = "ServiceUnavailable"
    http_status_code = HTTPStatus.SERVICE_UNAVAILABLE
    default_msg = "the data store is unavailable; try again shortly"


def provider_error(exc: GrunndataError) -> Exception:
    """A store error as the pygeoapi error carrying the right HTTP status."""
    if isinstance(exc, InvalidQuery):
        return ProviderInvalidQueryError(user_msg=exc.message)
    if isinstance(exc, StoreUnavailable):
        return StoreUnavailableError(user_msg="the data store is unavailable; try again shortly")
    return ProviderQueryError(user_msg=exc.message)


@cache
def _role_store(role: str) -> Store:
    return open_store(get_settings(), role)


def _store(dataset_id: str | None = None) -> Store:
    """The store as the dataset's serving role sees it (one process-wide cache for both pygeoapi apps): the public
    role for open datasets and the catalogue, the restricted role for restricted datasets (db_roles.py)."""
    restricted = dataset_id is not None and not _registry().get(dataset_id).is_open
    return _role_store("restricted" if restricted else "public")


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
            try:
                types = _store(self.dataset_id).fields(self.dataset_id, self.table)
            except GrunndataError as exc:  # pygeoapi builds a provider per request: a down store is a 503 here
                raise provider_error(exc) from exc
            for name, json_type in types.items():
                field = {"type": json_type}
                if name in declared and declared[name].type in ("date", "datetime"):
                    field = {"type": "string", "format": declared[name].type.replace("datetime", "date-time")}
                self._fields[name] = field
        return self._fields

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              **kwargs) -> dict:
        date_only = bool(self.time_field) and self._fields.get(self.time_field, {}).get("format") == "date"
        # The answer's CRS: the store transforms (PostGIS ST_Transform, GeoPackage one vectorised pyproj call)
        # instead of pygeoapi's @crs_transform, a Shapely round trip and a new Transformer per request.
        spec = kwargs.get("crs_transform_spec")
        out_srid, lat_first = target(spec.target_crs_uri) if spec is not None else (None, False)
        by_store = spec is None or out_srid is not None
        query = Query(
            bbox=tuple(bbox) if bbox else None, properties=list(properties or []), time_field=self.time_field,
            time_range=parse_datetime(datetime_, date_only), text=q, limit=limit, offset=offset,
            sortby=[(s["property"], s["order"] != "-") for s in sortby or []],
            select=list(select_properties or []) or None,
            skip_geometry=skip_geometry, hits_only=resulttype == "hits", filter=kwargs.get("filterq"),
            out_srid=out_srid if spec is not None else None, out_lat_first=lat_first,
            count_cap=get_settings().match_count_cap or None, raw_geometry=by_store and raw_geometry_wanted())
        self._check_properties(query.properties)
        try:
            page = _store(self.dataset_id).query(self.dataset_id, self.table, self.id_field, query)
        except GrunndataError as exc:
            raise provider_error(exc) from exc
        result = {"type": "FeatureCollection", "features": page.features, "numberReturned": len(page.features)}
        if page.matched is not None:  # more than the cap: left out, as OGC API Features allows (not guessed)
            result["numberMatched"] = page.matched
        if not by_store:  # a CRS without an EPSG code: pygeoapi's own transform
            return crs_transform(lambda **_: result)(crs_transform_spec=spec)
        return result

    def _check_properties(self, properties: list[tuple[str, object]]) -> None:
        """A value that cannot be the property's type is the caller's error on both stores (PostGIS would fail
        the cast, SQLite would silently match nothing)."""
        for name, value in properties:
            kind = self._fields.get(name, {}).get("type")
            try:
                if kind == "integer":
                    int(str(value))
                elif kind == "number":
                    float(str(value))
            except ValueError:
                raise ProviderInvalidQueryError(user_msg=f"property '{name}' is a{'n' if kind == 'integer' else ''} "
                                                f"{kind}; '{value}' is not") from None

    @crs_transform
    def get(self, identifier: str, **kwargs) -> dict:
        try:
            found = _store(self.dataset_id).get(self.dataset_id, self.table, self.id_field, identifier)
        except GrunndataError as exc:
            raise provider_error(exc) from exc
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
        if kwargs.get("filterq") is not None:  # never ignored: the catalogue answers q, bbox and properties
            raise ProviderInvalidQueryError(user_msg="the catalogue does not take filter=; use q=, bbox= or a "
                                                     "property such as type=dataset")
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
        for spec in reversed(sortby or []):  # OGC API Records sorting: stable sorts, last key first
            key = spec["property"]
            found.sort(key=lambda r, k=key: (r["properties"].get(k) is None, str(r["properties"].get(k) or "")),
                       reverse=spec["order"] == "-")
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
    return Wms(_role_store(audience), settings, _registry(), audience)  # audience public|restricted = role


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
            raise ProviderInvalidQueryError(user_msg="bbox must be minlon,minlat,maxlon,maxlat")
        wms_crs, box = _wms_bbox([float(v) for v in bbox], crs, kwargs.get("bbox_crs"))
        params = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": self.layer, "STYLES": "",
                  "CRS": wms_crs, "BBOX": ",".join(str(v) for v in box), "WIDTH": int(width),
                  "HEIGHT": int(height), "FORMAT": "image/png",
                  "TRANSPARENT": "FALSE" if str(transparent).lower() == "false" else "TRUE"}
        result = _wms(self.audience).dispatch(urlencode(params))
        if not result.content_type.startswith("image/"):  # a service exception: the request's parameters
            raise ProviderInvalidQueryError(user_msg=_exception_text(result.body))
        return result.body


def _wms_bbox(bbox: list[float], crs: str, bbox_crs: str | None) -> tuple[str, list[float]]:
    """The WMS CRS and BBOX for a Maps request. Without `bbox-crs` the bbox is lon/lat (CRS:84). With one,
    pygeoapi has already turned the two corners into EPSG:4326 in latitude-first order; MapServer gets the
    caller's own CRS and corners back instead (WMS 1.3.0 takes the CRS's own axis order), so a bbox in
    EPSG:25832 draws that rectangle."""
    from pygeoapi.util import get_crs_from_uri, transform_bbox

    if not bbox_crs or bbox_crs == crs:
        return "CRS:84", bbox
    target = get_crs_from_uri(bbox_crs)
    original = transform_bbox(bbox, crs, bbox_crs)
    if target.to_epsg() is None or "CRS84" in bbox_crs:
        return "CRS:84", original
    return f"EPSG:{target.to_epsg()}", [round(v, 9) for v in original]


def map_provider_or_404() -> None:
    """A collection without a map: pygeoapi answers 400 (invalid provider type); Maps says 404 (no such
    resource). Its maps module treats KeyError as not found."""
    from pygeoapi.api import maps
    from pygeoapi.provider.base import ProviderTypeError

    original = maps.get_provider_by_type
    if getattr(original, "grunndata_patched", False):
        return

    def get_provider_by_type(providers, provider_type):
        try:
            return original(providers, provider_type)
        except ProviderTypeError:
            raise KeyError(f"no {provider_type} provider") from None

    get_provider_by_type.grunndata_patched = True  # type: ignore[attr-defined]
    maps.get_provider_by_type = get_provider_by_type


def _exception_text(body: bytes) -> str:
    from lxml import etree

    try:
        return " ".join(t.strip() for t in etree.fromstring(body).itertext() if t.strip())[:300]
    except etree.XMLSyntaxError:
        return body[:300].decode("utf-8", "replace")


class SakRecordsProvider(BaseProvider):
    """The byggesak catalogue as OGC API Records: one record per published sak (already screened by the pipeline:
    public titles, identifiers as [skjerma]), read through the store with its paging, free text (q) over title and
    saksnummer, and properties; each record links to its page /arkiv/sak/{id}. `data` is "<dataset>/<table>"."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.dataset_id, self.table = provider_def["data"].split("/", 1)
        self.id_field = provider_def.get("id_field", "sak_id")
        self._fields = {k: {"type": t} for k, t in (("type", "string"), ("title", "string"),
                                                     ("saksnummer", "string"), ("saksstatus", "string"),
                                                     ("sakstype", "string"), ("saksaar", "integer"), ("gnr", "integer"),
                                                     ("bnr", "integer"))}

    def get_fields(self) -> dict:
        return self._fields

    def _record(self, f: dict) -> dict:
        p = f["properties"]
        base = get_settings().base_url
        return {"type": "Feature", "id": p[self.id_field], "geometry": None,
                "properties": {"type": "sak", "title": f"{p.get('saksnummer')} {p.get('tittel')}",
                               "saksnummer": p.get("saksnummer"), "saksstatus": p.get("saksstatus"),
                               "sakstype": p.get("sakstype"), "saksaar": p.get("saksaar"), "gnr": p.get("gnr"),
                               "bnr": p.get("bnr"),
                               "skjermingshjemmel": p.get("skjermingshjemmel") or None,
                               "time": {"date": p.get("saksdato")} if p.get("saksdato") else None,
                               "keywords": ["byggesak", p.get("mappetype") or "saksmappe",
                                            *([p["sakstype"]] if p.get("sakstype") else [])]},
                "links": [{"rel": "alternate", "type": "text/html", "title": p.get("saksnummer"),
                           "href": f"{base}/arkiv/sak/{p[self.id_field]}"}]}

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              **kwargs) -> dict:
        if kwargs.get("filterq") is not None or bbox:
            raise ProviderInvalidQueryError(user_msg="the case catalogue takes q= and properties "
                                                     "(saksnummer, saksstatus, sakstype, saksaar, gnr, bnr)")
        store = _store(self.dataset_id)
        props = []
        for k, v in properties or []:
            if k not in self._fields or k in ("type", "title"):
                raise ProviderInvalidQueryError(user_msg=f"unknown property '{k}'")
            if self._fields[k]["type"] == "integer":
                if not str(v).isdigit():
                    raise ProviderInvalidQueryError(user_msg=f"{k} must be a whole number")
                v = int(v)
            props.append((k, v))
        try:
            ids = None
            if q:
                ids = store.search(self.dataset_id, self.table, self.id_field, ["tittel", "saksnummer"], q[:200])
            page = store.query(self.dataset_id, self.table, self.id_field, Query(
                properties=props, ids=ids, limit=min(limit, 1000), offset=offset, skip_geometry=True,
                sortby=[("saksdato", False)], hits_only=resulttype == "hits"))
        except GrunndataError as exc:
            raise provider_error(exc) from exc
        feats = [self._record(f) for f in page.features]
        return {"type": "FeatureCollection", "features": feats, "numberMatched": page.matched,
                "numberReturned": len(feats)}

    def get(self, identifier: str, **kwargs) -> dict:
        try:
            f = _store(self.dataset_id).get(self.dataset_id, self.table, self.id_field, str(identifier)[:100])
        except GrunndataError as exc:
            raise provider_error(exc) from exc
        if f is None:
            raise ProviderItemNotFoundError(f"no record {identifier}")
        return self._record(f)
