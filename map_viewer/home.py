"""The front door: landing page, map of every open layer, health, the public WMS and the API docs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

from grunndata.errors import GrunndataError

from .context import AppContext
from .field_labels import labels as field_labels
from .i18n import pick_lang
from .ogc_tiles import vector_style
from .vendor import SWAGGER_UI

WMS_FASTER = frozenset({"eigedomar-teig"})  # measured, see map_page


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter()
    store, registry = ctx.store, ctx.registry

    @r.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """Swagger UI from the vendored npm package (FastAPI's default loads it from a CDN)."""
        ui = f"/static/vendor/npm/{SWAGGER_UI}"
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title=f"grunndata: {ctx.kommune.namn}",
                                   swagger_js_url=f"{ui}/swagger-ui-bundle.js", swagger_css_url=f"{ui}/swagger-ui.css",
                                   swagger_favicon_url=f"{ui}/favicon-32x32.png")

    @r.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            # each dataset as its serving role sees it: missing grants show up here as not built
            built = {ds.id: bool((store if ds.is_open else ctx.restricted_store).tables(ds.id))
                     for ds in registry.datasets.values()}
        except GrunndataError as exc:
            return JSONResponse({"status": "error", "store": store.kind, "error": exc.message}, status_code=503)
        ok = all(built.values())
        return JSONResponse({"status": "ok" if ok else "degraded", "store": store.kind, "datasets": built},
                            status_code=200 if ok else 503)

    @r.get("/wms", include_in_schema=False)
    async def wms_endpoint(request: Request) -> Response:
        result = await ctx.wms.dispatch_async(request.url.query)  # renderer processes: see map_viewer/wms.py
        return Response(result.body, status_code=result.status, media_type=result.content_type)

    @r.get("/", response_class=HTMLResponse, include_in_schema=False)
    def landing(request: Request) -> HTMLResponse:
        built = store.builds()
        layers = ctx.open_layers()
        datasets = [{"ds": ds, "build": built.get(ds.id),
                     "layers": [x for x in layers if x["dataset"].id == ds.id]} for ds in registry.open()]
        return ctx.page(request, "landing.html", datasets=datasets)

    @r.get("/kart", response_class=HTMLResponse, include_in_schema=False)
    def map_page(request: Request) -> HTMLResponse:
        layers = [{"name": x["collection"], "title": x["table"].title.get(pick_lang(request))}
                  for x in ctx.open_layers() if x["wms"]]
        # vector tiles where they are faster to serve than the PNG (bench/bench_tiles.py: points, plans and
        # arealformål 1.1-1.6x; the dense parcels ~0.7-0.9x at 2.3x the bytes, so those stay WMS) and the layer has
        # no labels (MapLibre would need glyphs); past zoom 16 the tiles are overzoomed, nothing more is loaded
        looks = {x["collection"]: vector_style(x["table"]) for x in ctx.open_layers()
                 if x["wms"] and not x["table"].raster and not x["table"].wms.label
                 and x["collection"] not in WMS_FASTER}
        return ctx.page(request, "map.html", layers=layers, looks=looks, bbox=ctx.kommune.bbox_4326(),
                        field_labels=list(field_labels().items()))  # in the catalog's order

    return r
