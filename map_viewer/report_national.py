"""The national layers of the property report: WMS GetFeatureInfo over the teig, one answer per configured service.

WMS GetFeatureInfo asks about one pixel, so a teig is asked at a few points inside it (its representative point and
up to four more spread over it, `sample_points`), each a GetFeatureInfo per configured layer of the service;
the features found at any of them are the answer. A service that does not answer within its `timeout_seconds`
(or refuses the connection, or answers with an error) is reported as such for its section only; the rest of the
report is not held up longer than the slowest timeout. Answers (and, for a short while, failures) are cached in
files every worker shares (grunndata/national_layers.py).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from functools import lru_cache

import httpx
import shapely
from defusedxml import ElementTree as SafeET
from shapely.geometry.base import BaseGeometry

from grunndata.national_layers import FileCache, NationalConfig, NationalLayer

MAX_POINTS = 5
MAX_BODY = 2_000_000  # a feature-info answer larger than this is not about one teig
PIXELS = 101  # the GetFeatureInfo image: the asked point is its centre pixel


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="nasjonale-lag")


def sample_points(geom: BaseGeometry) -> list[tuple[float, float]]:
    """Where a teig is asked: its representative point, then points of a 3x3 grid over it that fall inside."""
    rep = geom.representative_point()
    points = [(rep.x, rep.y)]
    minx, miny, maxx, maxy = geom.bounds
    for fx, fy in ((0.25, 0.25), (0.75, 0.75), (0.25, 0.75), (0.75, 0.25), (0.5, 0.5)):
        p = shapely.Point(minx + fx * (maxx - minx), miny + fy * (maxy - miny))
        if len(points) < MAX_POINTS and geom.contains(p):
            points.append((p.x, p.y))
    return [(round(x, 1), round(y, 1)) for x, y in points]


def _query(layer: NationalLayer, names: str, x: float, y: float) -> dict[str, str]:
    half = 5.0  # metres: the image covers 10 m around the point, one pixel is 0.1 m
    params = {"SERVICE": "WMS", "VERSION": layer.version, "REQUEST": "GetFeatureInfo", "LAYERS": names,
              "QUERY_LAYERS": names, "STYLES": "", "FORMAT": "image/png", "INFO_FORMAT": layer.info_format,
              "WIDTH": str(PIXELS), "HEIGHT": str(PIXELS), "FEATURE_COUNT": "50",
              "BBOX": f"{x - half},{y - half},{x + half},{y + half}"}
    centre = str(PIXELS // 2)
    if layer.version.startswith("1.3"):
        params.update(CRS=layer.crs, I=centre, J=centre)
    else:
        params.update(SRS=layer.crs, X=centre, Y=centre)
    return params


def parse_feature_info(body: bytes, content_type: str, layer: str = "") -> list[dict]:
    """Features of a GetFeatureInfo answer as {"lag", "eigenskapar"}: GeoJSON, MapServer's GML (msGMLOutput) or
    ArcGIS's FeatureInfoResponse. A ServiceExceptionReport raises ValueError."""
    text = body.lstrip()
    if "json" in content_type or text[:1] in (b"{", b"["):
        doc = json.loads(body)
        feats = doc.get("features", []) if isinstance(doc, dict) else []
        default = doc.get("name") or layer if isinstance(doc, dict) else layer
        return [{"lag": f.get("layerName") or default,
                 "eigenskapar": {k: v for k, v in (f.get("properties") or {}).items() if _plain(v)}}
                for f in feats if isinstance(f, dict)]
    root = SafeET.fromstring(body)  # another server's answer: no entity expansion, no external references
    if _local(root.tag) in ("ServiceExceptionReport", "ExceptionReport"):
        raise ValueError(" ".join(root.itertext()).strip()[:200] or "service exception")
    out = []
    for el in root.iter():
        tag = _local(el.tag)
        if tag == "FIELDS":  # ArcGIS: <FIELDS name="value" .../>
            out.append({"lag": layer, "eigenskapar": dict(el.attrib)})
        elif tag.endswith("_feature"):  # MapServer: <X_layer><X_feature><attr>value</attr>...
            props = {_local(c.tag): (c.text or "").strip() for c in el if len(c) == 0 and _local(c.tag) not in
                     ("boundedBy", "name") and (c.text or "").strip()}
            out.append({"lag": tag[:-len("_feature")], "eigenskapar": props})
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].split(":")[-1]


def _plain(value: object) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


class NationalLayers:
    def __init__(self, config: NationalConfig, cache: FileCache) -> None:
        self.config = config
        self.cache = cache
        self.client = httpx.Client(headers={"User-Agent": "grunndata eigedomsrapport"}, follow_redirects=False,
                                   limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))

    def _key(self, layer: NationalLayer, points: list[tuple[float, float]]) -> str:
        return "|".join([layer.url, ",".join(layer.layers), layer.version, layer.info_format, layer.crs,
                         ";".join(f"{x},{y}" for x, y in points)])

    def _ask(self, layer: NationalLayer, name: str, x: float, y: float) -> list[dict]:
        r = self.client.get(layer.url, params=_query(layer, name, x, y), timeout=layer.timeout_seconds)
        if r.status_code != 200:
            raise ValueError(f"HTTP {r.status_code}")
        if len(r.content) > MAX_BODY:
            raise ValueError("answer too large")
        return parse_feature_info(r.content, r.headers.get("content-type", ""), name)

    def report(self, geom: BaseGeometry) -> list[dict]:
        """One section per configured layer, in configuration order."""
        points = sample_points(geom)
        sections: dict[str, dict] = {}
        pending = {}
        for layer in self.config.layers:
            cached = self.cache.get(self._key(layer, points))
            if cached is not None:
                sections[layer.id] = {**cached, "frå_mellomlager": True}
            else:
                # one request per layer and point: not every server writes several layers in one answer
                # (MapServer's GeoJSON feature info cannot)
                pending[layer.id] = [_pool().submit(self._ask, layer, name, x, y) for name in layer.layers
                                     for x, y in points]
        if pending:
            slowest = max(layer.timeout_seconds for layer in self.config.layers if layer.id in pending)
            # the whole report waits at most the slowest timeout (a hanging DNS lookup is not bounded by httpx)
            wait([f for fs in pending.values() for f in fs], timeout=slowest)
        for layer in self.config.layers:
            if layer.id in sections:
                continue
            section = self._section(layer, pending[layer.id])
            ttl = self.config.cache_seconds if section["status"] == "ok" else self.config.unreachable_seconds
            if ttl:
                self.cache.put(self._key(layer, points), section, ttl)
            sections[layer.id] = {**section, "frå_mellomlager": False}
        return [sections[layer.id] for layer in self.config.layers]

    def _section(self, layer: NationalLayer, futures: list) -> dict:
        base = {"id": layer.id, "tittel": layer.title.model_dump(), "eigar": layer.owner, "url": layer.url,
                "lag": layer.layers, "henta": datetime.now(UTC).isoformat(timespec="seconds"), "treff": []}
        found: dict[str, dict] = {}
        for f in futures:
            if not f.done():
                return {**base, "status": "tidsavbrot", "melding": f"no answer within {layer.timeout_seconds:g} s"}
            exc = f.exception()
            if isinstance(exc, httpx.TimeoutException):
                return {**base, "status": "tidsavbrot", "melding": f"no answer within {layer.timeout_seconds:g} s"}
            if isinstance(exc, httpx.HTTPError):
                return {**base, "status": "utilgjengeleg", "melding": type(exc).__name__}
            if exc is not None:
                return {**base, "status": "feil", "melding": str(exc)[:200]}
            for hit in f.result():
                found.setdefault(json.dumps(hit, sort_keys=True, ensure_ascii=False), hit)
        return {**base, "status": "ok", "treff": list(found.values())}
