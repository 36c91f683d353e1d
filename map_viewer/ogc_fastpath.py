"""What makes OGC API items fast inside pygeoapi 0.21, without forking it (found with py-spy under wrk, see
bench/bench_items.py):

- pygeoapi writes every answer with the standard library's `json.dumps`; items and item answers here use orjson,
  which also pastes a store's GeoJSON geometry text (`orjson.Fragment`) into the answer without parsing it.
- The geometry text is only handed over for JSON answers: HTML, CSV and JSON-LD read the geometry as a dict. The
  provider learns the answer's format from a thread-local set around pygeoapi's items handler (pygeoapi runs
  the handler and the provider in the same executor thread).
- pygeoapi builds two pyproj Transformers per request (the bbox to the storage CRS, and the features to the
  answer's CRS; about a sixth of a request). The bbox one is cached here; the features are transformed by the
  store (`Query.out_srid`, see `target`).
"""

from __future__ import annotations

import threading
from functools import lru_cache

import orjson
import pyproj

_STATE = threading.local()
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def raw_geometry_wanted() -> bool:
    """Whether the items answer being built is JSON (so the geometry may stay GeoJSON text)."""
    return getattr(_STATE, "json_answer", False)


@lru_cache(maxsize=64)
def target(crs_uri: str) -> tuple[int | None, bool]:
    """(EPSG code, latitude first) of an answer CRS URI; CRS84 is EPSG:4326 longitude first. No EPSG code: None
    (the provider then lets pygeoapi transform)."""
    from pygeoapi.util import get_crs_from_uri

    crs = get_crs_from_uri(crs_uri)
    lat_first = crs.axis_info[0].direction.lower() in ("north", "south") if crs.axis_info else False
    epsg = crs.to_epsg()
    if epsg is None and crs.is_geographic and crs.equals(pyproj.CRS("OGC:CRS84")):
        epsg = 4326
    return epsg, lat_first


def transform_bbox(bbox: list, from_crs: str, to_crs: str) -> list:
    """pygeoapi.util.transform_bbox with its Transformer cached (same corners, same axis handling). pyproj's
    Transformer is not to be shared between threads: each executor thread builds its own, once."""
    from pygeoapi.util import get_crs_from_uri

    cache = getattr(_STATE, "transformers", None)
    if cache is None:
        cache = _STATE.transformers = {}
    key = (from_crs, to_crs)
    if key not in cache:
        cache[key] = pyproj.Transformer.from_crs(get_crs_from_uri(from_crs), get_crs_from_uri(to_crs))
    func = cache[key].transform
    n_dims = len(bbox) // 2
    return list(func(*bbox[:n_dims]) + func(*bbox[n_dims:]))


def _fragment_default(value):
    if isinstance(value, orjson.Fragment):
        return orjson.loads(value.contents)
    from pygeoapi.util import json_serial

    return json_serial(value)


def install() -> None:
    """Patch pygeoapi's items module: orjson answers, the JSON-answer flag, the cached bbox transform."""
    from pygeoapi.api import itemtypes
    from pygeoapi.util import json_serial

    if getattr(itemtypes.to_json, "grunndata_patched", False):
        return
    original_to_json = itemtypes.to_json

    def to_json(dict_: dict, pretty: bool = False) -> str:
        if pretty:  # pygeoapi's indent of 4 (orjson only indents by 2)
            import json

            return json.dumps(dict_, default=_fragment_default, indent=4, separators=(",", ":"))
        try:
            return orjson.dumps(dict_, default=json_serial, option=_OPTIONS).decode()
        except TypeError:  # what orjson refuses (an int beyond 64 bits …): the standard library, as before
            import json

            return json.dumps(dict_, default=_fragment_default, separators=(",", ":"))

    to_json.grunndata_patched = True  # type: ignore[attr-defined]
    to_json.original = original_to_json  # type: ignore[attr-defined]
    itemtypes.to_json = to_json
    itemtypes.transform_bbox = transform_bbox

    for name in ("get_collection_items", "get_collection_item"):
        handler = getattr(itemtypes, name)

        def flagged(api, request, *args, handler=handler, **kwargs):
            _STATE.json_answer = request.format in ("json", None)  # None: no f, no Accept = GeoJSON
            try:
                return handler(api, request, *args, **kwargs)
            finally:
                _STATE.json_answer = False

        setattr(itemtypes, name, flagged)
