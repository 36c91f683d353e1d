"""Reguleringsplanar: the search API, the search page and one page per plan."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, HTTPException, Request
from fastapi import Query as Param
from fastapi.responses import HTMLResponse
from shapely.geometry import shape

from grunndata.store import Query
from pipelines.plan_codes import arealformal, kodar

from .context import AppContext
from .ogc_tiles import vector_style
from .plan_search import PLANS, Filters, PlanSearch

PLAN_LAYERS = ["reguleringsplanar-arealformal", "reguleringsplanar-arealplan"]


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter()
    store, kommune = ctx.store, ctx.kommune
    search = PlanSearch(store, kommune.crs)

    def plan_search(q: str | None, lon: float | None, lat: float | None, x: float | None, y: float | None,
                    filters: Filters, limit: int) -> dict:
        point, lonlat = ((lon, lat), True) if lon is not None and lat is not None else \
            (((x, y), False) if x is not None and y is not None else (None, False))
        return search.search(q, point, lonlat, filters, limit)

    @r.get("/api/planar", tags=["Plansøk"], summary="Søk i reguleringsplanar")
    def api_plans(q: str | None = Param(None, description="plannamn, planID, saksnummer, adresse eller gnr/bnr"),
                  lon: float | None = None, lat: float | None = None,
                  x: float | None = Param(None, description=f"aust i {kommune.crs}"),
                  y: float | None = Param(None, description=f"nord i {kommune.crs}"),
                  plantype: list[int] = Param([]), planstatus: list[int] = Param([]),
                  statusgruppe: list[str] = Param([]), saksnummer: str | None = None,
                  fra: date | None = None, til: date | None = None, limit: int = Param(50, le=500)) -> dict:
        """Plans matching the query, gjeldande first, then under arbeid, then oppheva/erstatta."""
        filters = Filters(plantype, planstatus, statusgruppe, saksnummer, fra, til)
        return plan_search(q, lon, lat, x, y, filters, limit)

    @r.get("/planar", response_class=HTMLResponse, include_in_schema=False)
    def plans_page(request: Request, q: str | None = None, lon: float | None = None, lat: float | None = None,
                   plantype: list[int] = Param([]), statusgruppe: list[str] = Param([]),
                   saksnummer: str | None = None, fra: date | None = None, til: date | None = None) -> HTMLResponse:
        filters = Filters(plantype, [], statusgruppe, saksnummer, fra, til)
        searched = bool(q or lon is not None)
        result = plan_search(q, lon, lat, None, None, filters, 50) if searched else None
        return ctx.page(request, "plans.html", q=q or "", result=result, filters=filters,
                        plantypes=kodar()["plantype"], bbox=kommune.bbox_4326(), layers=PLAN_LAYERS,
                        looks={name: vector_style(ctx.registry.get(PLANS).table(name.split("-", 1)[1]))
                               for name in PLAN_LAYERS})

    def plan_rows(table: str, id_field: str, plan_id: str, geometry: bool = False) -> list[dict]:
        feats = store.query(PLANS, table, id_field, Query(properties=[("plan_id", plan_id)], limit=10_000,
                                                          skip_geometry=not geometry)).features
        if geometry:
            return [{**f["properties"], "areal": round(shape(f["geometry"]).area)} for f in feats]
        return [f["properties"] for f in feats]

    @r.get("/planar/{plan_id}", response_class=HTMLResponse, include_in_schema=False)
    def plan_page(request: Request, plan_id: str) -> HTMLResponse:
        plan = search.plan(plan_id, geometry=True)
        if plan is None:
            raise HTTPException(404, f"ukjend plan: {plan_id}")
        formal = sorted(plan_rows("arealformal", "formal_id", plan_id, geometry=True),
                        key=lambda row: (row["arealformal"] or 0, row["feltnavn"] or ""))
        codes = {k: v.farge or "#ffffff" for k, v in arealformal().items()}
        return ctx.page(request, "plan.html", plan=plan, formal=formal, bbox=ctx.lonlat_bounds(plan.get("geometry")),
                        zones=plan_rows("hensynssone", "sone_id", plan_id),
                        documents=sorted(plan_rows("plandokument", "dokument_id", plan_id),
                                         key=lambda d: d["dokumenttype"]),
                        dispensations=sorted((d for d in plan_rows("dispensasjon", "dispensasjon_id", plan_id)
                                              if d["vedtak"] == "innvilga"), key=lambda d: d["vedtaksdato"],
                                             reverse=True),
                        colours=codes, related={k: search.plan(v) for k in ("erstatta_av",)
                                                if (v := plan.get(k))})

    return r
