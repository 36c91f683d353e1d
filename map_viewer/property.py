"""One eigedom (gnr/bnr): its teigar, the plans that apply, plans in progress and older ones."""

from __future__ import annotations

import shapely
import shapely.geometry
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from shapely.geometry import shape

from grunndata.geometry import reproject

from .archive import saker_for_property
from .context import AppContext
from .plan_search import PlanSearch
from .plans import PLAN_LAYERS

MAX_MATRIKKEL = 99_999  # gnr, bnr, fnr, snr are at most five digits in the matrikkel


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter()
    search = PlanSearch(ctx.store, ctx.kommune.crs)

    @r.get("/eigedom/{gnr}/{bnr}", response_class=HTMLResponse, include_in_schema=False)
    def property_page(request: Request, gnr: int = PathParam(ge=0, le=MAX_MATRIKKEL),
                      bnr: int = PathParam(ge=0, le=MAX_MATRIKKEL)) -> HTMLResponse:
        found = search.for_property(gnr, bnr)
        geometry = None
        if found["teigar"]:
            geometry = shapely.union_all([shape(f["geometry"]) for f in found["teigar"]])
        return ctx.page(request, "property.html", found=found, bbox=ctx.lonlat_bounds(
            shapely.geometry.mapping(geometry.buffer(80)) if geometry is not None else None),
            parcels=[{"type": "Feature", "properties": {},
                      "geometry": shapely.geometry.mapping(reproject(shape(f["geometry"]), ctx.to_lonlat))}
                     for f in found["teigar"]], layers=PLAN_LAYERS,
            byggesaker=saker_for_property(ctx.store, gnr, bnr))

    return r
