"""The eigedomsrapport vertical: one gnr/bnr as a page (/eigedom/{gnr}/{bnr}), JSON (/api/eigedom/{gnr}/{bnr}) and
PDF (/eigedom/{gnr}/{bnr}.pdf); /eigedom?q= finds it from a gnr/bnr in any common form or an address.

The document is built in report.py; VA-nett near the teig is added only for a caller whose licence is valid for
VA today (the same `Authenticator` as the contractor vertical; bad credentials get the public report). Answers that
depend on credentials are `Cache-Control: private, no-store`, and the VA read is written to the access log.
"""

from __future__ import annotations

import shapely.geometry
from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi import Query as Param
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from grunndata.geometry import reproject
from grunndata.matrikkelnummer import MAX_NUMBER
from grunndata.matrikkelnummer import parse as parse_matrikkelnummer
from grunndata.national_layers import load_national_layers, national_cache

from .auth import COOKIE, Denied, Principal
from .context import AppContext
from .i18n import gettext as _
from .i18n import pick_lang
from .plan_search import PlanSearch
from .plans import PLAN_LAYERS
from .report import VA, PropertyReport
from .report_national import NationalLayers
from .report_text import caveats, national_status
from .security import NO_STORE

GNR = PathParam(ge=0, le=MAX_NUMBER, description="gardsnummer")
BNR = PathParam(ge=0, le=MAX_NUMBER, description="bruksnummer")


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter()
    national = NationalLayers(load_national_layers(ctx.settings), national_cache(ctx.settings))
    reports = PropertyReport(ctx.store, ctx.restricted_store, ctx.registry, ctx.kommune.kommunenummer,
                             ctx.kommune.crs, national)
    search = PlanSearch(ctx.store, ctx.kommune.crs)
    va = ctx.registry.datasets.get(VA)

    def va_principal(request: Request) -> Principal | None:
        """The caller when their licence allows VA today; None for everyone else (bad credentials included)."""
        if va is None:
            return None
        try:
            principal = ctx.auth.identify(request)
        except Denied:
            return None
        if principal is None or not principal.roles & set(va.access.roles):
            return None
        return principal

    def has_credentials(request: Request) -> bool:
        return bool(request.headers.get("authorization") or request.headers.get("x-api-key")
                    or request.query_params.get("apikey") or request.cookies.get(COOKIE))

    def build(request: Request, gnr: int, bnr: int) -> tuple[dict, BaseGeometry, Principal | None]:
        lang = pick_lang(request)
        principal = va_principal(request)
        built = reports.build(gnr, bnr, include_va=principal is not None)
        if built is None:
            suggestions = reports.suggestions(gnr, bnr)
            message = _("No property {gnr}/{bnr} in {kommune}.").format(gnr=gnr, bnr=bnr, kommune=ctx.kommune.namn)
            raise HTTPException(404, {"melding": message, "forslag": [
                {**s, "url": f"/eigedom/{s['gnr']}/{s['bnr']}?lang={lang}"} for s in suggestions]})
        report, geom = built
        if principal is not None:
            ctx.auth.log(request, principal, VA, 200)
        for section in report["nasjonale_lag"]:
            section["tekst"] = national_status(section["status"])
        report["atterhald"] = caveats(report["atterhald"])
        return report, geom, principal

    def headers(request: Request, principal: Principal | None) -> dict[str, str]:
        # the answer depends on who asks: never from a shared cache once credentials are involved
        return dict(NO_STORE) if principal is not None or has_credentials(request) else {"Vary": "Cookie"}

    def build_or_page(request: Request, gnr: int, bnr: int) -> tuple[dict, BaseGeometry, Principal | None] | Response:
        """`build`, or for an unknown gnr/bnr the 404 page with its suggestions (the JSON API keeps the 404 JSON)."""
        try:
            return build(request, gnr, bnr)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            return ctx.page(request, "property_unknown.html", status_code=404, message=exc.detail["melding"],
                            suggestions=exc.detail["forslag"])

    @r.get("/eigedom", response_class=HTMLResponse, include_in_schema=False)
    def find_property(request: Request, q: str = Param("", max_length=200)) -> Response:
        """A gnr/bnr in any common form, or an address: to its report."""
        lang = pick_lang(request)
        m = parse_matrikkelnummer(q)
        if m and m.in_kommune(ctx.kommune.kommunenummer):
            return RedirectResponse(f"/eigedom/{m.gnr}/{m.bnr}?lang={lang}", status_code=303)
        if not m and q.strip():
            found = search.addresses(q.strip()[:200], limit=1)
            if found and found[0][0] >= 0.8:
                a = found[0][1]["properties"]
                return RedirectResponse(f"/eigedom/{a['gnr']}/{a['bnr']}?lang={lang}", status_code=303)
        message = _("{q} is in another municipality.").format(q=str(m)) if m else \
            _("No property or address matches “{q}”. Write e.g. 12/345, gnr 12 bnr 345 or an address.").format(
                q=q.strip()[:80])
        return ctx.page(request, "property_unknown.html", status_code=404, message=message, suggestions=[])

    @r.get("/eigedom/{gnr}/{bnr}.pdf", include_in_schema=False)
    def property_pdf(request: Request, gnr: int = GNR, bnr: int = BNR) -> Response:
        from .report_pdf import render

        built = build_or_page(request, gnr, bnr)
        if isinstance(built, Response):
            return built
        report, geom, principal = built
        pdf = render(report, geom, ctx.kommune.namn, ctx.kommune.crs, ctx.wms, ctx.wms_restricted)
        return Response(pdf, media_type="application/pdf", headers={
            **headers(request, principal), "Content-Disposition": f'inline; filename="eigedom-{gnr}-{bnr}.pdf"'})

    @r.get("/eigedom/{gnr}/{bnr}", response_class=HTMLResponse, include_in_schema=False)
    def property_page(request: Request, gnr: int = GNR, bnr: int = BNR) -> HTMLResponse:
        built = build_or_page(request, gnr, bnr)
        if isinstance(built, Response):
            return built
        report, geom, principal = built
        parcel = mapping(reproject(geom, ctx.to_lonlat))
        response = ctx.page(request, "property.html", report=report, found=report["eigedom"],
                            bbox=ctx.lonlat_bounds(shapely.geometry.mapping(geom.buffer(80))),
                            parcels=[{"type": "Feature", "properties": {}, "geometry": parcel}], layers=PLAN_LAYERS,
                            va_shown=principal is not None, pdf_url=f"/eigedom/{gnr}/{bnr}.pdf")
        response.headers.update(headers(request, principal))
        return response

    @r.get("/api/eigedom/{gnr}/{bnr}", tags=["Eigedom"], summary="Eigedomsrapport for ein gnr/bnr",
           include_in_schema=True, responses={
               404: {"description": "Ingen teig med dette gnr/bnr; `detail.forslag` gjev dei nærmaste som finst"},
               200: {"description": "Rapporten: eigedom, planar, byggesaker, drikkevatn, naboeigedomar, "
                                    "nasjonale_lag, va_nett (berre med gyldig VA-lisens), atterhald"}})
    def property_api(request: Request, gnr: int = GNR, bnr: int = BNR) -> JSONResponse:
        """Everything the municipality's registers and the national WMS layers (NVE flaumsoner and skredfaresoner,
        NGU radon, Riksantikvaren kulturminne) say about one property. Each section has `kjelde` (dataset and
        last build); each national layer has `status` (`ok`, `tidsavbrot`, `utilgjengeleg`, `feil`) and `henta`.
        `va_nett` is present only for a caller with a valid VA licence (Basic, API key, bearer token or the
        entreprenør login). Neighbours are gnr/bnr only: no owner data."""
        report, _geom, principal = build(request, gnr, bnr)
        return JSONResponse(report, headers=headers(request, principal))

    return r
