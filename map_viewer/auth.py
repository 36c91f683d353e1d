"""Authentication and authorisation for restricted datasets.

Accepted credentials, in this order: `Authorization: Bearer <OIDC access token>` (verified against the configured
issuer's JWKS), `Authorization: Basic` (password or API key as the password: what QGIS sends with an auth
config), an `apikey` query parameter or `X-API-Key` header (a WMS URL pasted into QGIS), and the signed login
cookie of the entreprenør page. A principal sees a restricted dataset when one of its licences is valid today
for one of the dataset's roles. 401 = no or bad credentials (revoked users included), 403 = known user without a
valid licence. Every decision on a restricted route is written to the access log (who, when, what, bbox).
"""

from __future__ import annotations

import base64
import logging
import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from grunndata.access import AccessStore, User
from grunndata.registry import Dataset

LOG = logging.getLogger("grunndata.tilgang")
COOKIE = "grunndata_okt"
SESSION_SECONDS = 8 * 3600
REALM = 'Basic realm="grunndata: avgrensa data", charset="UTF-8"'


class Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Principal:
    user: User
    method: str  # oidc | basic | apikey | session
    roles: frozenset[str]


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

    @cached_property
    def signer(self) -> TimestampSigner:
        return TimestampSigner(self.access.session_key(), salt="grunndata-okt")

    @cached_property
    def jwks(self):
        import jwt

        return jwt.PyJWKClient(self.jwks_url, cache_keys=True)  # http(s) only; keys cached per process

    # -- sessions -------------------------------------------------------------------------------------------
    def session_cookie(self, user: User) -> str:
        return self.signer.sign(user.brukarnamn.encode()).decode()

    def _session_user(self, cookie: str) -> User | None:
        try:
            name = self.signer.unsign(cookie, max_age=SESSION_SECONDS).decode()
        except (BadSignature, SignatureExpired):
            return None
        return self.access.user(name)

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
        user, method = None, None
        if header.lower().startswith("bearer "):
            user, method = self._oidc(header[7:].strip()), "oidc"
        elif header.lower().startswith("basic "):
            try:
                name, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise Denied(401, "malformed basic credentials") from None
            user = self.access.by_password(name, secret) or self._key_user(secret, name)
            method = "basic"
            if user is None:
                raise Denied(401, "wrong user name or password")
        elif key := (request.query_params.get("apikey") or request.query_params.get("APIKEY")
                     or request.headers.get("x-api-key")):
            user, method = self.access.by_key(key), "apikey"
            if user is None:
                raise Denied(401, "unknown or revoked API key")
        elif cookie := request.cookies.get(COOKIE):
            user, method = self._session_user(cookie), "session"
            if user is None:
                raise Denied(401, "the login has expired")
        if user is None:
            return None
        if not user.active:
            raise Denied(401, "the user is revoked")
        return Principal(user, method, frozenset(self.access.roles_on(user)))

    def _key_user(self, key: str, name: str) -> User | None:
        user = self.access.by_key(key)
        return user if user is not None and user.brukarnamn.lower() == name.lower() else None

    def authorise(self, request: Request, datasets: list[Dataset]) -> Principal:
        principal = self.identify(request)
        if principal is None:
            raise Denied(401, "log in or send credentials (Basic, API key or bearer token)")
        allowed = set().union(*(ds.access.roles for ds in datasets)) if datasets else set()
        if not principal.roles & allowed:
            raise Denied(403, f"no valid licence for this data (needs one of: {', '.join(sorted(allowed))})")
        return principal

    def log(self, request: Request, principal: Principal | None, dataset: str | None, status: int) -> None:
        q = request.query_params
        bbox = q.get("bbox") or q.get("BBOX")
        who = principal.user.brukarnamn if principal else None
        self.access.log(who, principal.method if principal else "-", request.url.path + (
            f"?{request.url.query}"[:300] if request.url.query else ""), dataset, bbox, status)
        LOG.info("%s %s %s %s bbox=%s -> %s", time.strftime("%Y-%m-%dT%H:%M:%S"), who or "anonym",
                 request.url.path, dataset, bbox, status)


def denied_response(exc: Denied) -> Response:
    headers = {"WWW-Authenticate": REALM} if exc.status == 401 else {}
    return JSONResponse({"code": "Unauthorized" if exc.status == 401 else "Forbidden", "description": exc.message},
                        status_code=exc.status, headers=headers)


class Gate:
    """ASGI wrapper: nothing reaches `app` (e.g. the restricted pygeoapi) without a valid licence."""

    def __init__(self, app: ASGIApp, auth: Authenticator, datasets: list[Dataset]) -> None:
        self.app, self.auth, self.datasets = app, auth, datasets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        request = Request(scope)
        try:
            principal = await run_in_threadpool(self.auth.authorise, request, self.datasets)
        except Denied as exc:
            await run_in_threadpool(self.auth.log, request, None, _dataset_of(request, self.datasets), exc.status)
            await denied_response(exc)(scope, receive, send)
            return
        await run_in_threadpool(self.auth.log, request, principal, _dataset_of(request, self.datasets), 200)
        # pygeoapi copies the query string into every link: drop the key so responses never carry it
        query = "&".join(p for p in scope.get("query_string", b"").decode("latin-1").split("&")
                         if p and p.split("=")[0].lower() != "apikey")
        await self.app({**scope, "query_string": query.encode("latin-1")}, receive, send)


def _dataset_of(request: Request, datasets: list[Dataset]) -> str | None:
    text = request.url.path + " " + request.url.query
    return next((ds.id for ds in datasets if ds.id in text), None)
