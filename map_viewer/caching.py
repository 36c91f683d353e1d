"""HTTP caching: ETag and Last-Modified from the published build, 304 on revalidation, Cache-Control per route.

Every open GET response is derived from (the published builds, this release of the code, the request's path,
query, Accept, Accept-Language and `lang` cookie) and from nothing else, so its validator is a digest of those:
- the build state comes from the store's build log (`Store.builds()`: the time of each dataset's last good
  build), which every worker on every machine reads from the same store, so N workers agree on the ETag without
  talking to each other, and a rebuild changes it. A collection's responses (/ogc/collections/{dataset}-{table}…,
  /data/{dataset}/…) depend on that dataset's build only; every other route on all builds.
- the ETag is weak (W/"…"): pygeoapi's bodies carry a per-request `timeStamp`, so equal ETags promise the same
  content, not the same bytes.
Because the ETag is known before the response is, a matching If-None-Match (else If-Modified-Since) is answered
304 here without running the route at all.

Restricted routes (/wms-restricted, /ogc-restricted, /entreprenor, /api/va) and any request carrying
credentials (the login cookie, an Authorization or X-API-Key header, an `apikey` or `page_token`) get
`Cache-Control: private, no-store` and no validators, whatever the route said. A route that sets its own
Cache-Control or a cookie is left alone.

Hand-written (about a hundred lines) because the ASGI caching packages cache bodies in the process; here the
validator is what matters and the body is never kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grunndata.store import Build

from .auth import COOKIE, PAGE_TOKEN

LOG = logging.getLogger("grunndata.caching")
# How long a worker trusts the build state it read: one small query (builds) per worker per BUILD_TTL seconds at
# most, however many requests. After a build, N workers converge on the new ETag within BUILD_TTL.
BUILD_TTL = 5.0
PUBLIC = "public, max-age=60"  # open data: browsers and proxies may reuse it for a minute, then revalidate
PRIVATE = "private, no-store"
PRIVATE_PREFIXES = ("/wms-restricted", "/ogc-restricted", "/entreprenor", "/api/va")
UNCACHED_PREFIXES = ("/healthz", "/static", "/filer")  # live state / files Starlette validates itself
VARY = "Accept, Accept-Language, Cookie"

try:
    RELEASE = version("grunndata")
except PackageNotFoundError:  # running from a checkout that was never installed
    RELEASE = "dev"


def _under(path: str, prefixes: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _credentials(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    """Any of the credentials map_viewer/auth.py accepts, valid or not."""
    if b"authorization" in headers or b"x-api-key" in headers or _cookie(headers, COOKIE) is not None:
        return True
    query = scope.get("query_string", b"").decode("latin-1")
    return any(k.lower() in ("apikey", PAGE_TOKEN) for k, _ in parse_qsl(query, keep_blank_values=True))


def _when(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).replace(microsecond=0)


class BuildState:
    """The store's build log, re-read at most every BUILD_TTL seconds (per worker), off the event loop."""

    def __init__(self, read: Callable[[], dict[str, Build]]) -> None:
        self.read = read
        self.value: dict[str, Build] | None = None
        self.expires = 0.0
        self.lock = asyncio.Lock()

    async def get(self) -> dict[str, Build] | None:
        if time.monotonic() < self.expires:
            return self.value
        if self.lock.locked() and self.expires:  # one request re-reads; the others go on with what was read last
            return self.value  # (a slow or unreachable store then holds up one request, not every one)
        async with self.lock:
            if time.monotonic() >= self.expires:
                try:
                    self.value = await anyio.to_thread.run_sync(self.read)
                except Exception as exc:  # store unreachable: serve without validators rather than fail
                    LOG.warning("build state unavailable, no ETags for %.0f s: %s", BUILD_TTL, exc)
                    self.value = None
                self.expires = time.monotonic() + BUILD_TTL
        return self.value


class HttpCaching:
    """ASGI middleware; `dataset_ids` map a collection or download path to the dataset it is built from."""

    def __init__(self, app: ASGIApp, builds: Callable[[], dict[str, Build]], dataset_ids: Iterable[str]) -> None:
        self.app = app
        self.state = BuildState(builds)
        self.dataset_ids = sorted(dataset_ids, key=len, reverse=True)  # longest first: ids may share a prefix

    def _dataset_of(self, path: str) -> str | None:
        for prefix in ("/ogc/collections/", "/data/"):
            if path.startswith(prefix):
                rest = path[len(prefix):]
                return next((d for d in self.dataset_ids if rest.startswith((f"{d}-", f"{d}/"))), None)
        return None

    def validators(self, scope: Scope, headers: dict[bytes, bytes],
                   builds: dict[str, Build]) -> tuple[str, datetime | None]:
        ds = self._dataset_of(scope["path"])
        relevant = sorted((b.dataset_id, str(b.finished)) for b in builds.values() if ds is None or b.dataset_id == ds)
        key = "\n".join([RELEASE, repr(relevant), scope["path"], scope.get("query_string", b"").decode("latin-1"),
                         headers.get(b"accept", b"").decode("latin-1"),
                         headers.get(b"accept-language", b"").decode("latin-1"), _cookie(headers, "lang") or ""])
        times = [t for t in (_when(f) for _, f in relevant) if t]
        return f'W/"{hashlib.sha256(key.encode()).hexdigest()[:32]}"', max(times) if times else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = dict(scope["headers"])
        if _under(path, PRIVATE_PREFIXES) or _credentials(scope, headers):
            await self.app(scope, receive, _force(send, PRIVATE))
            return
        if _under(path, UNCACHED_PREFIXES):
            await self.app(scope, receive, send)
            return
        builds = await self.state.get()
        if builds is None:
            await self.app(scope, receive, send)
            return
        etag, modified = self.validators(scope, headers, builds)
        own = [(b"etag", etag.encode()), (b"cache-control", PUBLIC.encode()), (b"vary", VARY.encode())]
        if modified:
            own.append((b"last-modified", format_datetime(modified, usegmt=True).encode()))
        if _not_modified(headers, etag, modified):
            await send({"type": "http.response.start", "status": 304, "headers": own})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, _validated(send, own))


def _not_modified(headers: dict[bytes, bytes], etag: str, modified: datetime | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match (weak comparison) decides when sent; else If-Modified-Since."""
    if b"if-none-match" in headers:
        sent = headers[b"if-none-match"].decode("latin-1")
        tags = {t.strip().removeprefix("W/") for t in sent.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    if b"if-modified-since" in headers and modified:
        try:
            since = parsedate_to_datetime(headers[b"if-modified-since"].decode("latin-1"))
        except (TypeError, ValueError):
            return False
        return since.tzinfo is not None and modified <= since
    return False


def _force(send: Send, cache_control: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control", b"etag", b"last-modified")]
            message = {**message, "headers": [*kept, (b"cache-control", cache_control.encode())]}
        await send(message)
    return sending


def _validated(send: Send, own: list[tuple[bytes, bytes]]) -> Send:
    """Adds the validators to a 200 whose route did not decide its own caching (no Cache-Control, no cookie)."""
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 200:
            present = {k.lower() for k, _ in message.get("headers", [])}
            if not present & {b"cache-control", b"set-cookie"}:
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in (b"etag", b"vary")]
                message = {**message, "headers": [*kept, *own]}
        await send(message)
    return sending
