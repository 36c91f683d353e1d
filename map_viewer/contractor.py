"""The contractor vertical (restricted VA-nett): the WMS and the entreprenør page with its graveområde tools.

Everything here goes through `Authenticator.authorise`; the restricted OGC API is the second pygeoapi app behind
`Gate` (see app.py). Nothing in this module is reachable by the public configs. Every answer of these routes,
errors included, is `Cache-Control: private, no-store` (`NoStoreRoute`); the login and logout forms must be posted
from this site (`OriginCheck`); redirects go to the configured public URL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date
from urllib.parse import quote

import shapely
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pyproj import Transformer
from shapely.geometry import mapping, shape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from grunndata.geometry import reproject
from grunndata.store import Query

from .auth import COOKIE, SESSION_SECONDS, Denied, Principal, denied_response
from .context import AppContext
from .i18n import gettext as _
from .i18n import pick_lang
from .security import NO_STORE, OriginCheck

VA = "va_nett"
MAX_AREA_M2 = 200_000  # a graveområde larger than this is not a dig, it is a data export


class NoStoreRoute(APIRoute):
    """A route whose every answer, the error answers FastAPI makes from exceptions included, is marked
    `Cache-Control: private, no-store`: restricted data and the pages around it never land in a shared cache."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def no_store(request: Request) -> Response:
            try:
                response = await handler(request)
            except StarletteHTTPException as exc:
                raise HTTPException(exc.status_code, exc.detail, headers={**(exc.headers or {}), **NO_STORE}) from exc
            except RequestValidationError as exc:
                response = await request_validation_exception_handler(request, exc)
            response.headers.update(NO_STORE)
            return response

        return no_store


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(route_class=NoStoreRoute)
    # the restricted role's store and WMS: this vertical never reads through the public ones
    store, registry, auth, wms, kommune, page = (ctx.restricted_store, ctx.registry, ctx.auth, ctx.wms_restricted,
                                                 ctx.kommune, ctx.page)
    base = auth.access.settings.base_url
    same_site = [Depends(OriginCheck(base))]
    restricted = [ds for ds in registry.datasets.values() if not ds.is_open]
    to_utm = Transformer.from_crs("EPSG:4326", kommune.crs, always_xy=True)
    to_ll = Transformer.from_crs(kommune.crs, "EPSG:4326", always_xy=True)

    def datasets_in(query: dict) -> list:
        names = ",".join(query.get(k, "") for k in ("LAYERS", "QUERY_LAYERS", "LAYER", "layers", "query_layers",
                                                    "layer"))
        named = [ds for ds in restricted if ds.id in names]
        return named or restricted

    def check(request: Request, datasets: list) -> Principal:
        try:
            principal = auth.authorise(request, datasets)
        except Denied as exc:
            auth.log(request, None, ",".join(d.id for d in datasets), exc.status)
            raise
        auth.log(request, principal, ",".join(d.id for d in datasets), 200)
        return principal

    @r.get("/wms-restricted", include_in_schema=False)
    async def wms_restricted(request: Request) -> Response:
        try:
            principal = await run_in_threadpool(check, request, datasets_in(dict(request.query_params)))
        except Denied as exc:
            return denied_response(exc)
        query = "&".join(f"{k}={quote(v)}" for k, v in request.query_params.multi_items() if k.lower() != "apikey")
        # A key given in the URL (QGIS: a pasted service URL) goes back into the capabilities' URLs, for its
        # holder only, so the client's GetMap/GetFeatureInfo requests carry it as well.
        key = request.query_params.get("apikey") if principal.method == "apikey" else None
        result = await wms.dispatch_async(query, f"apikey={quote(key)}" if key else "")
        return Response(result.body, status_code=result.status, media_type=result.content_type, headers=NO_STORE)

    # -- entreprenør page ------------------------------------------------------------------------------------
    @r.get("/entreprenor", response_class=HTMLResponse, include_in_schema=False)
    def contractor(request: Request) -> HTMLResponse:
        try:
            principal = auth.authorise(request, [registry.get(VA)])
        except Denied as exc:
            return page(request, "login.html", status_code=exc.status if exc.status == 403 else 200,
                        message=exc.message if request.cookies.get(COOKIE) or exc.status == 403 else None)
        return page(request, "contractor.html", principal=principal, bbox=kommune.bbox_4326())

    secure_cookie = base.startswith("https://")

    @r.post("/entreprenor/login", include_in_schema=False, dependencies=same_site)
    def login(request: Request, brukarnamn: str = Form(..., max_length=200),
              passord: str = Form(..., max_length=1024)) -> Response:
        try:
            user = auth.password_login(request, brukarnamn, passord)
        except Denied as exc:  # throttled or locked out: 429, whether or not the password is right
            known = auth.access.user(brukarnamn)
            auth.access.log(known.brukarnamn if known else None, "login", "/entreprenor/login", VA, None, 429)
            pick_lang(request)  # the request's language for the message
            message = _("Too many failed logins. Try again in {seconds} seconds.").format(seconds=exc.retry_after)
            response = page(request, "login.html", status_code=429, message=message)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        if user is None:
            # only known names go to the log: an unknown one may be a password typed into the wrong field
            known = auth.access.user(brukarnamn)
            auth.access.log(known.brukarnamn if known else None, "login", "/entreprenor/login", VA, None, 401)
            return page(request, "login.html", status_code=401, message="login_failed")
        auth.access.log(user.brukarnamn, "login", "/entreprenor/login", VA, None, 200)
        response = RedirectResponse(f"{base}/entreprenor", status_code=303)
        response.set_cookie(COOKIE, auth.session_cookie(user), max_age=SESSION_SECONDS, httponly=True,
                            samesite="strict", secure=secure_cookie)
        return response

    @r.post("/entreprenor/logout", include_in_schema=False, dependencies=same_site)
    def logout(request: Request) -> Response:
        """Ends the session server-side (the old cookie is worthless from now on, on every worker)."""
        if cookie := request.cookies.get(COOKIE):
            auth.end_session(cookie)
        response = RedirectResponse(f"{base}/entreprenor", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=secure_cookie)
        return response

    # -- graveområde ---------------------------------------------------------------------------------------------
    def area_from(polygon: str) -> shapely.Polygon:
        """GeoJSON geometry in lon/lat (from the map) -> polygon in the kommune's CRS."""
        try:
            parsed = json.loads(polygon)
            if not isinstance(parsed, dict):
                raise ValueError("not a GeoJSON object")
            geom = shape(parsed)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, shapely.errors.ShapelyError) as exc:
            raise HTTPException(400, f"polygon must be a GeoJSON Polygon in lon/lat ({exc})") from None
        if geom.geom_type != "Polygon" or not geom.is_valid:
            raise HTTPException(400, "polygon must be one valid GeoJSON Polygon in lon/lat")
        area = reproject(geom, to_utm)
        if area.area > MAX_AREA_M2:
            raise HTTPException(400, f"graveområdet er {area.area:.0f} m²; største tillatne er {MAX_AREA_M2} m²")
        return area

    def inside(area: shapely.Polygon) -> dict[str, list[dict]]:
        out = {}
        for table, id_field in (("ledning", "ledning_id"), ("punkt", "punkt_id")):
            page_ = store.query(VA, table, id_field, Query(bbox=area.bounds, limit=100_000))
            feats = [f for f in page_.features if shape(f["geometry"]).intersects(area)]
            out[table] = feats
        return out

    def guarded(request: Request) -> Principal:
        try:
            return check(request, [registry.get(VA)])
        except Denied as exc:
            raise HTTPException(exc.status, exc.message,
                                headers={"WWW-Authenticate": "Basic"} if exc.status == 401 else None) from None

    @r.get("/api/va/graveomrade", tags=["VA-nett (avgrensa)"], summary="Leidningar og punkt i eit graveområde")
    def dig_area(request: Request, polygon: str, f: str = "json") -> Response:
        """Pipes and nodes intersecting the polygon (GeoJSON, lon/lat). f=json (summary), geojson or csv."""
        guarded(request)
        found = inside(area_from(polygon))
        if f == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf, delimiter=";")
            writer.writerow(["type", "id", "sid", "objekttype", "tema", "tema_namn", "dimensjon", "material",
                             "anleggsar", "eigar", "malemetode", "noyaktigheit_cm", "wkt_epsg25832"])
            for kind in ("ledning", "punkt"):
                for feat in found[kind]:
                    p = feat["properties"]
                    writer.writerow([kind, feat["id"], p.get("sid"), p.get("objekttype"), p.get("tema"),
                                     p.get("tema_namn"), p.get("dimensjon", ""), p.get("material", ""),
                                     p.get("anleggsar"), p.get("eigar"), p.get("malemetode"),
                                     p.get("noyaktigheit_cm"), shape(feat["geometry"]).wkt])
            return Response(buf.getvalue().encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="graveomrade.csv"',
                                     "Cache-Control": "private, no-store"})
        features = []
        for kind in ("ledning", "punkt"):
            for feat in found[kind]:
                geom = reproject(shape(feat["geometry"]), to_ll, keep_z=True)  # heights as stored
                features.append({"type": "Feature", "id": feat["id"], "geometry": mapping(geom),
                                 "properties": {"type": kind, **feat["properties"]}})
        if f == "geojson":
            return Response(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                            media_type="application/geo+json",
                            headers={"Content-Disposition": 'attachment; filename="graveomrade.geojson"',
                                     "Cache-Control": "private, no-store"})
        return JSONResponse({"ledningar": len(found["ledning"]), "punkt": len(found["punkt"]),
                             "features": features}, headers={"Cache-Control": "private, no-store"})

    @r.get("/api/va/ledningskart.pdf", tags=["VA-nett (avgrensa)"], summary="Utskrivbart ledningskart")
    def pipe_map(request: Request, polygon: str, scale: int = 500) -> Response:
        """A4 landscape PDF: the network around the graveområde at the given scale, legend, date, user, warning."""
        principal = guarded(request)
        if scale not in (250, 500, 1000, 2000):
            raise HTTPException(400, "scale must be 250, 500, 1000 or 2000")
        from .pipemap import render

        area = area_from(polygon)
        pdf = render(wms, area, scale, principal.user, kommune, inside(area))
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="ledningskart-{date.today()}.pdf"',
            "Cache-Control": "private, no-store"})

    return r
