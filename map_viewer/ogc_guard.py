"""Checks in front of pygeoapi: query parameters it passes on unchecked become 400s with a message, not 500s.

pygeoapi 0.21 answers 500 for an empty or malformed `sortby`, an `offset` beyond what SQLite or PostgreSQL can
bind, a NUL byte (PostgreSQL refuses it in any string), a `datetime` that is not RFC 3339 (GeoPackage: silently no
items), a map `width`/`height` of 0 or larger than MapServer draws, and a POST to items without a body. Each is
checked here, in the mount, so both audiences' pygeoapi apps get the same rules and the providers stay simple.
The error body has pygeoapi's own shape (`code`, `description`).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Receive, Scope, Send

MAX_OFFSET = 10_000_000  # deeper paging than this is a harvest: use the downloads
MAX_MAP_SIZE = 4096  # MapServer's MAXSIZE
_SORT_KEY = re.compile(r"^[+-]?[A-Za-z_][A-Za-z0-9_]*$")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?)?$")


class InvalidParameter(ValueError):
    pass


def parse_instant(value: str) -> datetime:
    """An RFC 3339 date or date-time (what OGC API `datetime` takes); ValueError otherwise."""
    if not _INSTANT.match(value):
        raise InvalidParameter(f"'{value}' is not an RFC 3339 date or date-time (e.g. 2024-05-01 or "
                               "2024-05-01T12:00:00Z)")
    text = value.replace("z", "Z").replace("t", "T")
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day)
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidParameter(f"'{value}' is not a valid date: {exc}") from None
    return parsed.replace(tzinfo=None) if parsed.tzinfo is None else parsed


def check_datetime(value: str) -> None:
    """Instant, or interval start/end with `..` or an empty side for an open end."""
    parts = value.split("/")
    if len(parts) > 2 or not value.strip():
        raise InvalidParameter("datetime must be an instant or an interval start/end")
    bounds = [None if p in ("", "..") else parse_instant(p) for p in parts]
    if len(parts) == 2:
        start, end = bounds
        if start is None and end is None:
            raise InvalidParameter("datetime interval needs at least one bound")
        if start and end and _naive(start) > _naive(end):
            raise InvalidParameter("datetime interval starts after it ends")
    elif bounds[0] is None:
        raise InvalidParameter("datetime must be an instant or an interval start/end")


def _naive(d: datetime) -> datetime:
    return d.replace(tzinfo=None) if d.tzinfo else d


def check_query(path: str, params: list[tuple[str, str]]) -> None:
    """Raises InvalidParameter naming the parameter and the rule."""
    if "\x00" in path:
        raise InvalidParameter("the path holds a NUL byte")
    is_map = path.rstrip("/").endswith("/map")
    for name, value in params:
        if "\x00" in name or "\x00" in value:
            raise InvalidParameter(f"parameter '{name.strip(chr(0))}' holds a NUL byte")
        key = name.lower()
        if key == "sortby":
            keys = value.split(",")
            if not value.strip() or not all(_SORT_KEY.match(k.strip()) for k in keys):
                raise InvalidParameter("sortby must be a comma-separated list of property names, each optionally "
                                       "prefixed with + or - (e.g. sortby=-dato,namn)")
        elif key in ("offset", "startindex"):
            if not value.isdigit() or int(value) > MAX_OFFSET:
                raise InvalidParameter(f"{name} must be a whole number from 0 to {MAX_OFFSET}")
        elif key == "limit":
            if not value.isdigit() or int(value) < 1:
                raise InvalidParameter("limit must be a whole number of at least 1")
        elif key == "datetime":
            check_datetime(value)
        elif key in ("bbox-crs", "crs", "filter-crs"):
            _check_crs(name, value)
        elif is_map and key in ("width", "height"):
            if not value.isdigit() or not 1 <= int(value) <= MAX_MAP_SIZE:
                raise InvalidParameter(f"{name} must be a whole number from 1 to {MAX_MAP_SIZE}")
    _check_filter(params)


def _check_filter(params: list[tuple[str, str]]) -> None:
    """`filter-lang` is cql2-text or cql2-json, and `filter` parses in it: else a 400 saying why."""
    from .ogc_filter import FilterError, language, parse

    langs = [v for k, v in params if k.lower() == "filter-lang"]
    filters = [v for k, v in params if k.lower() == "filter"]
    try:
        lang = language(langs[0] if langs else None)
        if len(filters) > 1:
            raise FilterError("give one filter (combine conditions with AND)")
        if filters:
            parse(filters[0], lang)
    except FilterError as exc:
        raise InvalidParameter(str(exc)) from None


def pygeoapi_query(query: str) -> str:
    """The query string with `filter-lang` in the names pygeoapi 0.21 accepts (it refuses cql2-text/cql2-json)."""
    from urllib.parse import urlencode

    from .ogc_filter import PYGEOAPI_NAME, language

    params = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() == "filter-lang" for k, _ in params):
        return query
    return urlencode([(k, PYGEOAPI_NAME[language(v)] if k.lower() == "filter-lang" else v) for k, v in params])


def _check_crs(name: str, value: str) -> None:
    """pygeoapi turns an unparseable CRS URI into a 500 (CRSError) on maps; a caller's error is a 400."""
    from pygeoapi.util import get_crs_from_uri

    try:
        get_crs_from_uri(value)
    except Exception:  # noqa: BLE001 - pyproj and pygeoapi raise several kinds for a bad URI
        raise InvalidParameter(f"{name} must be a CRS URI such as http://www.opengis.net/def/crs/EPSG/0/25832 "
                               f"(got '{value[:80]}')") from None


def _error(message: str, status: int = 400) -> tuple[int, bytes]:
    code = "InvalidParameterValue" if status == 400 else "InvalidRequest"
    return status, json.dumps({"code": code, "type": code, "description": message}).encode()


class OgcGuard:
    """ASGI wrapper for a pygeoapi app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        path = unquote(scope.get("path", ""))
        problem: tuple[int, bytes] | None = None
        try:
            check_query(path, parse_qsl(query, keep_blank_values=True))
        except InvalidParameter as exc:
            problem = _error(str(exc))
        if problem is None and scope["method"] == "POST" and path.rstrip("/").endswith("/items"):
            # pygeoapi reads a POSTed items body as a CQL2 JSON filter; without one it fails with a 500
            body, more = b"", True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            if not body.strip():
                problem = _error("POST to items needs a CQL2 JSON filter as the body")
            else:
                from .ogc_filter import FilterError, parse

                try:
                    parse(body.decode("utf-8", "replace"), "cql2-json")
                except FilterError as exc:
                    problem = _error(f"the POSTed body: {exc}")
            if problem is None:
                receive = _replay(body, receive)
        if problem is not None:
            status, payload = problem
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        if b"filter-lang" in scope.get("query_string", b"").lower():
            scope = {**scope, "query_string": pygeoapi_query(query).encode("latin-1")}
        if _ITEMS.search(path.rstrip("/")) and dict(parse_qsl(query)).get("f", "json") == "json":
            scope, send = _geojson(scope, send)
        await self.app(scope, receive, send)


_ITEMS = re.compile(r"/collections/[^/]+/items(/[^/]+)?$")


def _geojson(scope: Scope, send: Send) -> tuple[Scope, Send]:
    """Items are GeoJSON: `Accept: application/geo+json` is understood (pygeoapi knows only application/json)
    and JSON items are labelled `application/geo+json`, unless the client asked for application/json alone."""
    headers = dict(scope.get("headers", []))
    accept = headers.get(b"accept", b"").decode("latin-1").lower()
    wanted = [part.split(";")[0].strip() for part in accept.split(",") if part.strip()]
    if "application/geo+json" in wanted:
        rewritten = accept.replace("application/geo+json", "application/json").encode("latin-1")
        scope = {**scope, "headers": [(k, rewritten if k == b"accept" else v) for k, v in scope["headers"]]}
    json_only = "application/json" in wanted and "application/geo+json" not in wanted

    async def labelled(message: dict) -> None:
        if message["type"] == "http.response.start" and not json_only and message["status"] < 400:
            message = {**message, "headers": [
                (k, b"application/geo+json" if k.lower() == b"content-type" and v.startswith(b"application/json")
                 else v) for k, v in message.get("headers", [])]}
        await send(message)
    return scope, labelled


def _replay(body: bytes, upstream: Receive) -> Receive:
    """The body already read, then the client's own messages (a real disconnect, when it comes)."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()
    return receive
