"""Authentication and authorisation for restricted datasets.

Accepted credentials, in this order: `Authorization: Bearer <OIDC access token>` (verified against the configured
issuer's JWKS), `Authorization: Basic` (password or API key as the password: what QGIS sends with an auth
config), an `apikey` query parameter or `X-API-Key` header (a WMS URL pasted into QGIS), and the signed login
cookie of the entreprenør page. A principal sees a restricted dataset when one of its licences is valid today
for one of the dataset's roles. 401 = no or bad credentials (revoked users included), 403 = known user without a
valid licence, 429 = too many failed passwords for this user name or from this address (`Throttle` in
grunndata/access.py). Every decision on a restricted route is written to the access log (who, when, what, bbox),
with API keys replaced by their row id and other credentials by ***.

The login cookie is a signed random session id; the session is a row in the access store, so logout, `users
revoke` and `users rotate-session-key` end it at once on every worker. Password checks take the same time
whether or not the user exists (a dummy scrypt hash for unknown users).
"""

from __future__ import annotations

import base64
import logging
import math
import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grunndata.access import AccessStore, ThrottleState, User, address_bucket, user_bucket, verify_password
from grunndata.registry import Dataset

from .security import NO_STORE, UNSAFE_METHODS, OriginCheck, install_log_scrubbing, scrub_path, scrub_query

LOG = logging.getLogger("grunndata.tilgang")
COOKIE = "grunndata_okt"
SESSION_SECONDS = 8 * 3600
PAGE_SECONDS = 3600  # how long a restricted paging link (next/prev) works for the caller it was made for
PAGE_TOKEN = "page_token"  # a credential-like name: security.scrub_query keeps it out of every log
REALM = 'Basic realm="grunndata: avgrensa data", charset="UTF-8"'


class Denied(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    user: User
    method: str  # oidc | basic | apikey | session
    roles: frozenset[str]
    key_id: int | None = None  # the apinokkel row, when an API key identified the caller


def client_address(request: Request) -> str:
    """The caller's address (uvicorn puts X-Forwarded-For's there when the proxy is in --forwarded-allow-ips)."""
    return request.client.host if request.client else "-"


def _setting(name: str) -> str | None:
    value = os.environ.get(f"GRUNNDATA_{name}")
    path = os.environ.get(f"GRUNNDATA_{name}_FILE")
    if not value and path:
        value = Path(path).read_text(encoding="utf-8").strip()
    return value or None


class Authenticator:
    def __init__(self, access: AccessStore) -> None:
        self.access = access
        self.issuer = _setting("OIDC_ISSUER")
        self.audience = _setting("OIDC_AUDIENCE")
        self.jwks_url = _setting("OIDC_JWKS_URL")
        install_log_scrubbing()
        verify_password("", None)  # makes the dummy hash now, not during the first login

    def signer(self) -> TimestampSigner:
        """Read from the store on each use (one small query), so a rotated key applies on every worker at once."""
        return TimestampSigner(self.access.session_key(), salt="grunndata-okt")

    @cached_property
    def jwks(self):
        import jwt

        return jwt.PyJWKClient(self.jwks_url, cache_keys=True)  # http(s) only; keys cached per process

    # -- sessions -------------------------------------------------------------------------------------------
    def session_cookie(self, user: User) -> str:
        """A new session for the user; the cookie value is its signed id."""
        return self.signer().sign(self.access.new_session(user, SESSION_SECONDS)).decode()

    def _session_id(self, cookie: str) -> str | None:
        try:
            return self.signer().unsign(cookie, max_age=SESSION_SECONDS).decode()
        except (BadSignature, SignatureExpired, UnicodeDecodeError):
            return None

    # -- paging links ---------------------------------------------------------------------------------------
    def _pager(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.access.session_key(), salt="grunndata-sida")

    def page_token(self, user: User, path: str) -> str:
        """What a restricted next/prev link carries instead of the caller's API key: signed, for this user and this
        items path only, for PAGE_SECONDS; the user's licence is checked again on every use."""
        return self._pager().dumps({"u": user.brukarnamn, "p": path})

    def _page_user(self, token: str, path: str) -> User | None:
        try:
            data = self._pager().loads(token, max_age=PAGE_SECONDS)
        except (BadSignature, SignatureExpired, UnicodeDecodeError):
            return None
        if not isinstance(data, dict) or data.get("p") != path:
            return None
        return self.access.user(str(data.get("u")))

    def _session_user(self, cookie: str) -> User | None:
        sid = self._session_id(cookie)
        return self.access.session_user(sid) if sid else None

    def end_session(self, cookie: str) -> None:
        if sid := self._session_id(cookie):
            self.access.end_session(sid)

    # -- passwords and the login throttle ------------------------------------------------------------------
    def _buckets(self, request: Request, name: str) -> list[str]:
        return [user_bucket(name), address_bucket(client_address(request))]

    def _who(self, name: str) -> str:
        """A user name fit for the log: unknown names may be a password typed into the wrong field."""
        user = self.access.user(name)
        return user.brukarnamn if user else "(ukjend brukarnamn)"

    def _throttled(self, request: Request, name: str, state: ThrottleState) -> Denied:
        seconds = max(1, math.ceil(state.wait))
        LOG.warning("login throttled (%s): user %s from %s, %d failures, retry after %d s",
                    "locked out" if state.locked else "back-off", self._who(name), client_address(request),
                    state.failures, seconds)
        return Denied(429, f"too many failed logins: try again in {seconds} s", retry_after=seconds)

    def _failed(self, request: Request, name: str, buckets: list[str]) -> None:
        state = self.access.login_failed(buckets)
        if state.locked:
            LOG.warning("login locked out for %d s: user %s from %s, %d failures", math.ceil(state.wait),
                        self._who(name), client_address(request), state.failures)

    def password_login(self, request: Request, name: str, password: str) -> User | None:
        """The login form: the active user whose password this is, or None (counted as a failure); Denied(429)
        while the user name or the address must wait, however right the password."""
        buckets = self._buckets(request, name)
        state = self.access.login_wait(buckets)
        if state.wait:
            raise self._throttled(request, name, state)
        user = self.access.by_password(name, password)
        if user is None or not user.active:
            self._failed(request, name, buckets)
            return None
        if state.failures:
            self.access.login_succeeded(buckets[0])
        return user

    # -- credentials ----------------------------------------------------------------------------------------
    def _oidc(self, token: str) -> User:
        import jwt

        if not (self.issuer and self.jwks_url):
            raise Denied(401, "bearer tokens are not configured (GRUNNDATA_OIDC_ISSUER, GRUNNDATA_OIDC_JWKS_URL)")
        try:
            key = self.jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=["RS256", "ES256"], issuer=self.issuer,
                                audience=self.audience, options={"require": ["exp", "iss"],
                                                                 "verify_aud": self.audience is not None})
        except jwt.PyJWTError as exc:
            raise Denied(401, f"invalid bearer token ({type(exc).__name__})") from None
        name = claims.get("preferred_username") or claims.get("email") or claims.get("sub")
        user = self.access.user(str(name)) if name else None
        if user is None:
            raise Denied(403, f"token user '{name}' has no licence here")
        return user

    def identify(self, request: Request) -> Principal | None:
        """The caller, None when no credentials were sent; Denied when credentials are bad."""
        header = request.headers.get("authorization", "")
        user, method, key_id = None, None, None
        if header.lower().startswith("bearer "):
            user, method = self._oidc(header[7:].strip()), "oidc"
        elif header.lower().startswith("basic "):
            try:
                name, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise Denied(401, "malformed basic credentials") from None
            (user, key_id), method = self._basic(request, name, secret), "basic"
        elif key := (request.query_params.get("apikey") or request.query_params.get("APIKEY")
                     or request.headers.get("x-api-key")):
            owner, method = self.access.key_owner(key), "apikey"
            if owner is None:
                raise Denied(401, "unknown or revoked API key")
            user, key_id = owner
        elif token := request.query_params.get(PAGE_TOKEN):
            user, method = self._page_user(token, request.url.path), "page"
            if user is None:
                raise Denied(401, "this paging link has expired or is not for this path: send your credentials again")
        elif cookie := request.cookies.get(COOKIE):
            user, method = self._session_user(cookie), "session"
            if user is None:
                raise Denied(401, "the login has expired")
        if user is None:
            return None
        if not user.active:
            raise Denied(401, "the user is revoked")
        return Principal(user, method, frozenset(self.access.roles_on(user)), key_id)

    def _basic(self, request: Request, name: str, secret: str) -> tuple[User, int | None]:
        """Basic credentials: the user's password (throttled like the login form) or one of the user's API keys
        (what QGIS users may put in an auth config; 256 random bits, so no throttle is needed, and a key still
        works while the user name is locked out by someone guessing passwords)."""
        buckets = self._buckets(request, name)
        state = self.access.login_wait(buckets)
        user = None if state.wait else self.access.by_password(name, secret)
        if user is not None:
            if state.failures and user.active:
                self.access.login_succeeded(buckets[0])
            return user, None
        owner = self.access.key_owner(secret)
        if owner is not None and owner[0].brukarnamn.lower() == name.lower():
            return owner
        if state.wait:
            raise self._throttled(request, name, state)
        self._failed(request, name, buckets)
        raise Denied(401, "wrong user name or password")

    def authorise(self, request: Request, datasets: list[Dataset]) -> Principal:
        principal = self.identify(request)
        if principal is None:
            raise Denied(401, "log in or send credentials (Basic, API key or bearer token)")
        allowed = set().union(*(ds.access.roles for ds in datasets)) if datasets else set()
        if not principal.roles & allowed:
            raise Denied(403, f"no valid licence for this data (needs one of: {', '.join(sorted(allowed))})")
        return principal

    def log(self, request: Request, principal: Principal | None, dataset: str | None, status: int) -> None:
        """One access-log row (queued: never waits on, nor fails because of, the database). The query is scrubbed
        first: an API key is logged as its row id, other credential-like values as ***."""
        q = request.query_params
        bbox = (q.get("bbox") or q.get("BBOX") or "")[:200] or None
        who = principal.user.brukarnamn if principal else None
        key_id = principal.key_id if principal else None
        query = scrub_query(request.url.query, key_id if principal and principal.method == "apikey" else None)
        method = (f"{principal.method}#{key_id}" if key_id is not None else principal.method) if principal else "-"
        path = scrub_path(request.url.path)
        self.access.log(who, method, (path + (f"?{query}" if query else ""))[:300], dataset, bbox, status)
        LOG.info("%s %s %s %s bbox=%s -> %s", time.strftime("%Y-%m-%dT%H:%M:%S"), who or "anonym", path, dataset,
                 bbox, status)


_CODES = {401: "Unauthorized", 403: "Forbidden", 429: "TooManyRequests"}


def denied_response(exc: Denied) -> Response:
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = REALM
    if exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse({"code": _CODES.get(exc.status, "Forbidden"), "description": exc.message},
                        status_code=exc.status, headers=headers)


class Gate:
    """ASGI wrapper: nothing reaches `app` (e.g. the restricted pygeoapi) without a valid licence."""

    def __init__(self, app: ASGIApp, auth: Authenticator, datasets: list[Dataset]) -> None:
        self.app, self.auth, self.datasets = app, auth, datasets
        self.origin = OriginCheck(auth.access.settings.base_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        request = Request(scope)
        try:
            principal = await run_in_threadpool(self.auth.authorise, request, self.datasets)
            # a browser's cookie rides along on cross-site requests: those may read (SameSite permitting), not change
            if request.method in UNSAFE_METHODS and principal.method == "session" and not self.origin.same_origin(
                    request):
                raise Denied(403, "cross-site request refused")
        except Denied as exc:
            await run_in_threadpool(self.auth.log, request, None, _dataset_of(request, self.datasets), exc.status)
            await denied_response(exc)(scope, receive, send)
            return
        await run_in_threadpool(self.auth.log, request, principal, _dataset_of(request, self.datasets), 200)
        # pygeoapi copies the query string into every link: drop the key so responses never carry it
        query = "&".join(p for p in scope.get("query_string", b"").decode("latin-1").split("&")
                         if p and p.split("=")[0].lower() not in ("apikey", PAGE_TOKEN))
        if principal.method in ("apikey", "page") and request.method == "GET" and request.url.path.rstrip(
                "/").endswith("/items"):
            # the key came in the URL, so the next/prev links need something in theirs: a paging token (for this
            # user and path, expiring), never the key
            token = await run_in_threadpool(self.auth.page_token, principal.user, request.url.path)
            query = "&".join(p for p in (query, f"{PAGE_TOKEN}={token}") if p)

        async def send_private(message: Message) -> None:
            """Restricted answers are never kept by a shared cache, whatever pygeoapi says."""
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", NO_STORE["Cache-Control"].encode())]}
            await send(message)

        await self.app({**scope, "query_string": query.encode("latin-1")}, receive, send_private)


def _dataset_of(request: Request, datasets: list[Dataset]) -> str | None:
    text = request.url.path + " " + request.url.query
    return next((ds.id for ds in datasets if ds.id in text), None)
