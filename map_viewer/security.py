"""Web hardening shared by every route: security headers, the public origin, CSRF origin checks, log scrubbing.

- Security headers (CSP, X-Frame-Options, Referrer-Policy, nosniff, …) come from the `secure` library's ASGI
  middleware, configured here for what the pages really load (`security_headers`).
- `PublicOrigin` makes the app see the configured public URL (settings.base_url) as its host and scheme, so no URL
  it builds (Starlette's trailing-slash redirects, pygeoapi's landing redirect, request.url) comes from a client's
  Host header.
- `OriginCheck`: state-changing form posts must come from a page of this site (Origin, else Referer).
- `scrub_query` and the uvicorn access-log filter keep API keys and anything credential-like out of every log.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, urlsplit

from fastapi import HTTPException, Request
from secure import (
    ContentSecurityPolicy,
    CrossOriginOpenerPolicy,
    PermissionsPolicy,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)
from secure.middleware import SecureASGIMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from grunndata.settings import Settings

NO_STORE = {"Cache-Control": "private, no-store"}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
__all__ = ["NO_STORE", "OriginCheck", "PublicOrigin", "SecureASGIMiddleware", "scrub_query", "security_headers"]

# Query parameters whose value is a secret (matched anywhere in the decoded, lower-cased name), and values that are
# one of our API keys whatever the parameter is called.
_SECRET_NAME = re.compile(r"api[-_]?key|token|pass(word|ord|wd)?|secret|auth|session|signature|credential|^key$|"
                          r"^sig$|^pwd$|^code$|grunndata_okt", re.I)
_OUR_KEY = re.compile(r"gd_[A-Za-z0-9_\-]{16,}")


def scrub_query(query: str, key_id: int | None = None) -> str:
    """A query string fit for a log: credential-like values replaced by ***, an `apikey` by the id of the key's row
    (`key#12`, useless to anyone who reads the log) when the caller was identified by it."""
    parts = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        plain = unquote(name).strip().lower()
        if eq and _SECRET_NAME.search(plain):
            part = f"{name}={f'key#{key_id}' if key_id is not None and plain == 'apikey' else '***'}"
        parts.append(_OUR_KEY.sub("gd_***", part))
    return "&".join(parts)


def scrub_path(path_with_query: str, key_id: int | None = None) -> str:
    path, sep, query = path_with_query.partition("?")
    return _OUR_KEY.sub("gd_***", path) + (sep + scrub_query(query, key_id) if sep else "")


class ScrubAccessLog(logging.Filter):
    """uvicorn's access log ("GET /wms-restricted?apikey=… HTTP/1.1" 200, when a deployment turns it on) without the
    secrets: its records carry (client, method, path with query, http version, status) as args."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], scrub_path(args[2]), *args[3:])
        elif isinstance(record.msg, str):
            record.msg = scrub_path(record.msg) if "?" in record.msg else _OUR_KEY.sub("gd_***", record.msg)
        return True


def install_log_scrubbing() -> None:
    """On uvicorn's access logger (configured before the app is imported; dictConfig keeps existing filters)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, ScrubAccessLog) for f in access.filters):
        access.addFilter(ScrubAccessLog())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}"


def security_headers(settings: Settings) -> Secure:
    """Headers for every response. The CSP allows what the pages load and nothing else:
    - scripts: our own files plus inline blocks ('unsafe-inline'): the templates' <script type="module"> blocks
      carry per-request data (bbox, layer lists) and so cannot be hashed, pygeoapi's HTML pages and FastAPI's
      Swagger UI use inline scripts as well. No 'unsafe-eval', no script host other than this site, no plugins.
    - MapLibre: its worker is a blob: URL (worker-src), it fetches tiles (connect-src) and decodes them to
      images (img-src blob: data:), WMS tiles from here and base-map tiles from the host of settings.basemap_url;
      Leaflet on pygeoapi's pages loads the same base-map tiles as <img>.
    - styles: ours plus inline style attributes the templates and pygeoapi's pages use.
    - no framing at all (frame-ancestors 'none', X-Frame-Options DENY), forms post only to this site.
    """
    basemap = _origin(settings.basemap_url) if settings.basemap_url.startswith(("http://", "https://")) else None
    extra = [basemap] if basemap else []
    public = _origin(settings.base_url)
    csp = (ContentSecurityPolicy()
           .default_src("'self'")
           .script_src("'self'", "'unsafe-inline'")
           .style_src("'self'", "'unsafe-inline'")
           .img_src("'self'", "data:", "blob:", *extra)
           .connect_src("'self'", *extra)
           .worker_src("'self'", "blob:")
           .child_src("'self'", "blob:")
           .font_src("'self'", "data:")
           .object_src("'none'")
           .base_uri("'self'")
           .form_action("'self'", public)
           .frame_ancestors("'none'"))
    hsts = StrictTransportSecurity().max_age(31536000) if public.startswith("https://") else None
    return Secure(csp=csp, hsts=hsts, xfo=XFrameOptions().deny(), xcto=XContentTypeOptions().nosniff(),
                  referrer=ReferrerPolicy().same_origin(), coop=CrossOriginOpenerPolicy().same_origin(),
                  permissions=PermissionsPolicy().geolocation().microphone().camera())


class PublicOrigin:
    """ASGI middleware: the request's host and scheme are the configured public URL's, whatever Host header the
    client sent, so redirects and every other URL the app derives from the request point at this site. (Starlette
    has TrustedHostMiddleware, which refuses unknown hosts instead; a deployment's health checks and local calls
    come under other names, and they should keep working.)"""

    def __init__(self, app: ASGIApp, base_url: str) -> None:
        self.app = app
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.netloc.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", self.host)]
            scheme = self.scheme if scope["type"] == "http" else ("wss" if self.scheme == "https" else "ws")
            scope = {**scope, "headers": headers, "scheme": scheme}
        await self.app(scope, receive, send)


class OriginCheck:
    """FastAPI dependency for state-changing form posts (login, logout): the Origin header, or when a browser sent
    none the Referer, must be this site's public origin; cross-origin posts and posts with neither are refused with
    403. (Hand-written because it is four lines: the CSRF libraries want a token in every form.)"""

    def __init__(self, base_url: str) -> None:
        self.origin = _origin(base_url)

    def same_origin(self, request: Request) -> bool:
        sent = request.headers.get("origin") or request.headers.get("referer")
        return bool(sent) and sent != "null" and _origin(sent) == self.origin

    def __call__(self, request: Request) -> None:
        if request.method in UNSAFE_METHODS and not self.same_origin(request):
            raise HTTPException(403, f"cross-site request refused: forms must be posted from {self.origin}",
                                headers=NO_STORE)
