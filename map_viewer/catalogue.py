"""The dataset catalogue: /datasett for people, /catalog (DCAT-AP-NO) for data.norge.no and other harvesters."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi import Query as Param
from fastapi.responses import HTMLResponse, Response

from publishers import dcat
from publishers.catalogue import distributions

from .context import AppContext


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter()

    @r.get("/datasett", response_class=HTMLResponse, include_in_schema=False)
    def datasets_page(request: Request) -> HTMLResponse:
        built = ctx.store.builds()
        entries = [{"ds": ds, "build": built.get(ds.id), "distributions": distributions(ds, ctx.settings.base_url)}
                   for ds in ctx.registry.datasets.values()]
        return ctx.page(request, "datasets.html", entries=entries)

    @r.get("/catalog", tags=["Katalog"], summary="DCAT-AP-NO catalogue (Turtle, JSON-LD, RDF/XML)")
    def catalog(request: Request, format: str | None = Param(None, description="ttl | jsonld | rdf")) -> Response:
        """Content negotiation by Accept header or ?format=; every dataset, restricted ones as metadata only."""
        fmt = dcat.negotiate(request.headers.get("accept"), format)
        if fmt not in dcat.FORMATS:
            raise HTTPException(400, f"unknown format '{format}': use ttl, jsonld or rdf")
        graph = dcat.build_graph(ctx.registry, ctx.store, ctx.kommune, ctx.settings.base_url)
        body, media = dcat.serialise(graph, fmt)
        return Response(body, media_type=media, headers={"Vary": "Accept"})

    return r
